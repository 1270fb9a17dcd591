"""An experiment, not a feature: every drawing's features averaged with its mirror image's
(the sum of the two unit vectors, normalised again), at twice the network's cost, then any
`emojisketch` command run on top. Measured on the held-out words with

    python benchmarks/query_mirror.py evaluate fewshot --data ../shared/data/quickdraw \
        --ways 20 --shots 3 --episodes 1000 --seed 0 --model models/base.safetensors --json

against the same command without this wrapper (`emojisketch evaluate fewshot ...`): see
"The whole chain, timed" in models/README.md. It patches ``UpdatableModel.embed``, so the
taught drawings and the queries both get it.
"""

from __future__ import annotations

import sys

import numpy as np


def mirror_averaged(embed):
    """``embed(self, images)`` -> the same, each row averaged with the mirrored image's."""

    def wrapped(self, images):
        images = np.asarray(images, dtype=np.float32).reshape(-1, 28, 28)
        both = embed(self, images) + embed(self, np.ascontiguousarray(images[:, :, ::-1]))
        return (both / np.linalg.norm(both, axis=1, keepdims=True)).astype(np.float32)

    return wrapped


def main(argv: list[str]) -> None:
    from emojisketch import model
    from emojisketch.cli import main as cli

    model.UpdatableModel.embed = mirror_averaged(model.UpdatableModel.embed)
    sys.argv = ["emojisketch", *argv]
    cli()


if __name__ == "__main__":
    main(sys.argv[1:])
