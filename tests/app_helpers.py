"""Helpers for the app tests: draw with real (QTest) mouse events, make a tiny base model."""

from __future__ import annotations

import math

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

BASE_LABELS = ["🍎", "🐱", "☀️", "🏠", "🐟", "⭐", "🌳", "🚗"]


def draw(canvas, strokes, step_ms: int = 0) -> None:
    """Press, move through each point, release: the events a mouse sends."""
    for stroke in strokes:
        points = [QPoint(round(x), round(y)) for x, y in stroke]
        QTest.mousePress(canvas, Qt.LeftButton, Qt.NoModifier, points[0])
        for p in points[1:]:
            QTest.mouseMove(canvas, p, step_ms)
        QTest.mouseRelease(canvas, Qt.LeftButton, Qt.NoModifier, points[-1])


def circle(cx=150, cy=150, r=60, n=24):
    return [[(cx + r * math.cos(2 * math.pi * i / n), cy + r * math.sin(2 * math.pi * i / n))
             for i in range(n + 1)]]


def zigzag(x0=60, y0=80, n=6):
    """A shape unlike any circle: a zigzag and a bar under it."""
    return [[(x0 + 30 * i, y0 + (60 if i % 2 else 0)) for i in range(n)],
            [(x0, y0 + 120), (x0 + 30 * (n - 1), y0 + 120)]]


def make_base(path, seed: int = 0):
    """A tiny random base net over BASE_LABELS, saved as a base-model file."""
    import torch

    from emojisketch.checkpoint import save_net
    from emojisketch.net import DrawingNet, NetConfig

    torch.manual_seed(seed)
    config = NetConfig(channels=(8, 16, 16), embed_dim=32, n_classes=len(BASE_LABELS),
                       labels=list(BASE_LABELS))
    save_net(DrawingNet(config).eval(), path)
    return path
