"""``emojisketch import FILE.mlmodel``: make an exported Core ML model (ours, possibly trained
further on a phone) the current personalized model, so the app goes on from it.

The store keeps the previous models (``Store.model_history``), so an import can be undone by
hand. Examples stored on this computer that the file does not say it was built from count as
pending: the next update adds them.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE.mlmodel", help="a model exported by emojisketch")


def import_into_store(path, store):
    """Save the model ``path`` holds as the store's current model; returns (model, file).

    The ids the file records as included (written by ``emojisketch export``) count only where
    this store knows them, so examples from elsewhere are never taken for local ones.
    """
    from .importer import import_mlmodel, recorded_includes  # noqa: PLC0415

    model = import_mlmodel(path)
    local = {e.id for e in store.examples()}
    includes = [i for i in recorded_includes(path) if i in local]
    return model, store.save_model(model, includes)


def run(args: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415

    torch.set_num_threads(1)
    from ..store import Store  # noqa: PLC0415

    with Store() as store:
        model, saved = import_into_store(args.file, store)
    print(f"Imported {args.file}: {model.kind} classifier, {len(model.labels)} emoji, "
          f"{model.classifier.n_examples} example(s). It is now your personalized model ({saved}).")
    return 0
