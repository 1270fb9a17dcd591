"""Helpers for the Core ML tests (no tests here): a tiny random DrawingNet whose batch norms
have non-trivial statistics, and real doodles from tests/data rendered by the ink pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from emojisketch import ink, quickdraw
from emojisketch.model import Example, from_net
from emojisketch.net import DrawingNet, NetConfig

SAMPLE = Path(__file__).parent / "data" / "quickdraw_sample.ndjson"
BASE_LABELS = ["🍎", "🐱", "☀️", "🏠", "🐟", "⭐"]


def tiny_net(seed: int = 0, channels=(4, 8, 8), embed_dim: int = 16, expand: int = 0,
             pooled: bool = False) -> DrawingNet:
    """A random net whose embedding depends on the drawing (as a trained one's does).

    Batch-norm statistics are measured on real doodles and the affine parameters are random,
    so every layer's weights matter: an export that dropped or misplaced any would be caught.
    (With default statistics a random net maps every doodle to nearly the same embedding.)
    With ``pooled``, its features carry the pooled features and its base emoji get random
    pooled prototypes.
    """
    gen = torch.Generator().manual_seed(seed)
    config = NetConfig(channels=tuple(channels), embed_dim=embed_dim, expand=expand,
                       n_classes=len(BASE_LABELS), labels=list(BASE_LABELS), pooled=pooled)
    torch.manual_seed(seed)
    net = DrawingNet(config)
    calibration = torch.from_numpy(_calibration_images())[:, None]
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = None  # a cumulative average over the one batch below
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=gen) * 0.4 - 0.2)
        net.train()(calibration)
        if pooled:
            net.pooled_prototypes.copy_(torch.rand(net.pooled_prototypes.shape, generator=gen))
    return net.eval()


_CALIBRATION: list[np.ndarray] = []


def _calibration_images() -> np.ndarray:
    if not _CALIBRATION:
        _CALIBRATION.append(images(per_word=2, words=18))
    return _CALIBRATION[0]


def tiny_model(kind: str = "knn", seed: int = 0, expand: int = 0, pooled: bool = False, **params):
    return from_net(tiny_net(seed, expand=expand, pooled=pooled), kind, **params)


def records(per_word: int = 3, words: int = 6):
    """``per_word`` doodles of each of the first ``words`` categories of the sample file."""
    seen: dict[str, int] = {}
    out = []
    for rec in quickdraw.read(SAMPLE):
        if rec.word not in seen and len(seen) == words:
            continue
        if seen.get(rec.word, 0) < per_word:
            seen[rec.word] = seen.get(rec.word, 0) + 1
            out.append(rec)
    return out


def images(per_word: int = 3, words: int = 6) -> np.ndarray:
    return np.stack([ink.to_image(r.drawing) for r in records(per_word, words)])


def examples(per_word: int = 2, words: int = 3) -> list[Example]:
    """Doodles taught under emoji of their own (not base labels): new classes to learn."""
    new = ["🍏", "🦋", "🚲", "🎸", "🪁", "🧭"]
    emoji: dict[str, str] = {}
    out = []
    for r in records(per_word, words):
        if r.word not in emoji:
            emoji[r.word] = new[len(emoji)]
        out.append(Example(r.drawing, emoji[r.word]))
    return out
