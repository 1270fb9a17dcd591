"""``emojisketch export``: write the personalized model (or another) as an updatable Core ML
model, the same code the app's export dialog runs (:func:`.export.export_model`).

    emojisketch export --out Emoji.mlmodel [--model FILE] [--kind knn|nn] [--linked]
                       [--verify [DRAWINGS.ndjson]]

Without ``--model``: the current personalized model of the store (``$EMOJISKETCH_HOME`` or the
user data folder), or the shipped base model when there is none yet.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="FILE.mlmodel", help="the file to write")
    parser.add_argument("--model", metavar="FILE",
                        help="an emojisketch model or base-net file (default: your personalized "
                             "model, else the shipped base model)")
    parser.add_argument("--kind", choices=("knn", "nn"),
                        help="the updatable classifier: k-nearest neighbours or a neural head "
                             "(default: the model's own)")
    parser.add_argument("--linked", action="store_true",
                        help="write the embedding once as its own file beside FILE and link "
                             "to it (Core ML 3 linked model), so several models share it")
    parser.add_argument("--verify", nargs="?", const="", metavar="DRAWINGS",
                        help="then run the file with the numpy reference interpreter on "
                             "drawings (a Quick, Draw! file; default: the test sample) and "
                             "print how far it is from the app's own predictions")


def _model_to_export(path: str | None):
    """(model, store example ids it includes or None, where it came from)."""
    from ..model import load_model  # noqa: PLC0415  (the CLI imports only what it runs)

    if path is not None:
        return load_model(path), None, path
    from ..store import Store  # noqa: PLC0415

    with Store() as store:
        model = store.load_model()
        for warning in store.warnings:
            print(f"emojisketch export: {warning}", file=sys.stderr)
        if model is not None:
            where = f"your personalized model ({store.root})"
            return model, sorted(store.current_includes()), where
    return load_model(), None, "the shipped base model (no personalized model yet)"


def run(args: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415

    torch.set_num_threads(1)
    from . import export  # noqa: PLC0415

    model, includes, source = _model_to_export(args.model)
    out = export.export_model(model, args.out, kind=args.kind, linked=args.linked,
                              includes=includes)
    kind = args.kind or model.kind
    n_examples = model.with_kind(kind).classifier.n_examples
    print(f"Exported {source} to {out}: {kind} classifier, {len(model.labels)} emoji, "
          f"{n_examples} example(s), Core ML 3 updatable pipeline (spec version 4).")
    if args.linked:
        print(f"It links to {out.parent / export.linked_embedding_file(model.net)} (compile it "
              "to .mlmodelc beside the model or in the app bundle).")
    if args.verify is not None:
        from . import verify  # noqa: PLC0415

        images = verify.drawings(args.verify or verify.SAMPLE)
        report = verify.verify_export(model.with_kind(kind), out, images)
        print(f"Reference interpreter vs the app: {report}")
    return 0
