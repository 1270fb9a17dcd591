"""Start the emojisketch app from a checkout: ``python main.py [app options]``."""
import sys

from emojisketch.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["app", *sys.argv[1:]]))
