"""Emoji as pictures: OpenMoji SVGs rendered through QtSvg, cached by emoji and size.

No emoji font is installed on the machines this runs on (text emoji would draw as boxes), and
OpenMoji's COLR font renders blank in Qt, so an emoji is never drawn as text: it is the
OpenMoji picture (CC BY-SA 4.0, credited in Help > About), or, for a string that has none, a
neutral tile with its code points.
"""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from .. import catalog


@lru_cache(maxsize=64)
def _renderer(path: str) -> QSvgRenderer | None:
    renderer = QSvgRenderer(path)
    return renderer if renderer.isValid() else None


@lru_cache(maxsize=2048)
def emoji_pixmap(text: str, size: int = 64, device_ratio: float = 1.0) -> QPixmap:
    """A square picture of the emoji, ``size`` logical pixels wide, transparent around it."""
    side = max(1, round(size * device_ratio))
    pixmap = QPixmap(side, side)
    pixmap.fill(Qt.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.Antialiasing)
    painter.setRenderHint(QPainter.SmoothPixmapTransform)
    path = catalog.svg_path(text)
    renderer = _renderer(str(path)) if path is not None else None
    if renderer is not None:
        renderer.render(painter, QRectF(0, 0, side, side))
    else:
        _draw_unknown(painter, text, side)
    painter.end()
    pixmap.setDevicePixelRatio(device_ratio)
    return pixmap


def emoji_icon(text: str, size: int = 64) -> QIcon:
    """The picture as an icon that looks the same selected (no tint over the colours)."""
    pixmap = emoji_pixmap(text, size)
    icon = QIcon(pixmap)
    icon.addPixmap(pixmap, QIcon.Selected)
    return icon


def _draw_unknown(painter: QPainter, text: str, side: int) -> None:
    """A rounded tile with the code points: honest about what it is, never a tofu box."""
    painter.setPen(QColor("#9e9e9e"))
    painter.setBrush(QColor("#eeeeee"))
    painter.drawRoundedRect(QRectF(1, 1, side - 2, side - 2), side / 6, side / 6)
    font = QFont()
    font.setPixelSize(max(6, side // 6))
    painter.setFont(font)
    painter.setPen(QColor("#616161"))
    painter.drawText(QRectF(0, 0, side, side), Qt.AlignCenter | Qt.TextWordWrap,
                     catalog.codepoints_name(text).replace("-", " "))
