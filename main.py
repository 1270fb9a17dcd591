"""Start the emojisketch app from a checkout: ``python main.py``."""
from emojisketch.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["app"]))
