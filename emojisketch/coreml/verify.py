"""Check an exported file against the model it came from, here, without a Mac: run the file
with the numpy interpreter on real drawings and compare with the app's own numbers.

    emojisketch export --out Emoji.mlmodel --verify [drawings.ndjson]

prints the largest differences of embeddings and probabilities and the share of drawings whose
top-1 label agrees, both for the app's float images and for 8-bit pixels (what a phone's
camera-free CVPixelBuffer holds; there torch is given the same bytes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np

from .. import ink, quickdraw
from ..errors import DataFormatError
from .interpret import Interpreter, to_pixels

SAMPLE = Path(__file__).resolve().parents[2] / "tests" / "data" / "quickdraw_sample.ndjson"


@dataclass
class Verification:
    n: int
    embedding_diff: float  # max |interpreter - torch| over all embedding values
    prob_diff: float  # max |interpreter - app| over all probabilities
    top1_agree: float  # share of drawings with the same top-1 label
    bytes_embedding_diff: float  # the same three on 8-bit pixels
    bytes_prob_diff: float
    bytes_top1_agree: float
    phone_vs_app: float  # share where the file on 8-bit pixels agrees with the app on floats

    def __str__(self) -> str:
        return (f"{self.n} drawings: float images: max |d embedding| {self.embedding_diff:.2e}, "
                f"max |d probability| {self.prob_diff:.2e}, top-1 agrees {self.top1_agree:.0%}; "
                f"8-bit pixels: {self.bytes_embedding_diff:.2e}, {self.bytes_prob_diff:.2e}, "
                f"{self.bytes_top1_agree:.0%}; file on 8-bit pixels vs app on float images: "
                f"top-1 agrees {self.phone_vs_app:.1%}")


def drawings(path: str | os.PathLike = SAMPLE, limit: int = 200) -> np.ndarray:
    """Up to ``limit`` images rendered by the ink pipeline from a Quick, Draw! file."""
    recs = [r for r in islice(quickdraw.read(path), limit)]
    images = [r.image if r.image is not None else ink.to_image(r.drawing) for r in recs]
    if not images:
        raise DataFormatError(f"{path} holds no drawings")
    return np.stack(images).astype(np.float32)


def _compare(model, interp: Interpreter, images: np.ndarray, quantize: bool):
    result = interp.classify(images, quantize=quantize)
    seen = to_pixels(images, quantize=True) / 255.0 if quantize else images
    probs = model.predict_proba(seen)
    mine = result.probs[:, [result.classes.index(c) for c in model.labels]]
    top = _top1(model, seen)
    emb_diff = float(np.abs(result.embedding - model.embed(seen)).max())
    agree = float(np.mean([a == b for a, b in zip(result.labels, top)]))
    return emb_diff, float(np.abs(mine - probs).max()), agree, result.labels


def _top1(model, images: np.ndarray) -> list[str]:
    return [model.labels[j] for j in model.classifier.rank(model.embed(images))[0][:, 0]]


def verify_export(model, path: str | os.PathLike, images: np.ndarray) -> Verification:
    """Compare the file at ``path`` (run by the interpreter) with ``model`` (the app's)."""
    interp = Interpreter(path)
    floats = _compare(model, interp, images, quantize=False)
    as_bytes = _compare(model, interp, images, quantize=True)
    phone = float(np.mean([a == b for a, b in zip(as_bytes[3], _top1(model, images))]))
    return Verification(len(images), *floats[:3], *as_bytes[:3], phone)
