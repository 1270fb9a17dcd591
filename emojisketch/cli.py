"""The ``emojisketch`` command: ``app`` (the default), ``train-base``, ``pooled-prototypes``,
``evaluate``, ``bench``, ``export`` and ``import``.

Each command lives in the module that does the work; that module offers
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only for the command
being run, so ``emojisketch app`` does not pay for coremltools and ``export`` does not load Qt.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import EmojisketchError

DESCRIPTION = "Draw a doodle, get an emoji; personalize the model and export it to Core ML."
COMMANDS = {
    "app": ("emojisketch.app.main", "start the drawing app (the default)"),
    "train-base": ("emojisketch.train", "train the base drawing model on Quick, Draw! files"),
    "pooled-prototypes": ("emojisketch.pooled", "give a trained base net the pooled features"),
    "evaluate": ("emojisketch.evaluate", "measure accuracy: base, fewshot or stream"),
    "bench": ("emojisketch.bench", "measure speed on the shipped model"),
    "export": ("emojisketch.coreml.cli", "export a Core ML updatable model (.mlmodel)"),
    "import": ("emojisketch.coreml.cli_import", "import a .mlmodel as the personalized model"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS and argv[0] not in ("-h", "--help"):
        argv.insert(0, "app")
    parser = argparse.ArgumentParser(prog="emojisketch", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    name = argv[0]
    module = importlib.import_module(COMMANDS[name][0])
    cmd = argparse.ArgumentParser(prog=f"emojisketch {name}", description=COMMANDS[name][1])
    module.add_arguments(cmd)
    args = cmd.parse_args(argv[1:])
    try:
        return int(module.run(args) or 0)
    except EmojisketchError as exc:
        print(f"emojisketch {name}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
