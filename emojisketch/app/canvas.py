"""The drawing canvas: mouse, pen and tablet ink, smoothed and antialiased on screen.

The canvas only collects strokes and shows them. What the model sees is made from the raw
points by :func:`emojisketch.ink.to_image` (see :meth:`Canvas.drawing`); pen pressure and the
on-screen smoothing change the line drawn here, never the model's input.

``settled`` fires 0.5 s after the last stroke ends; starting a new stroke cancels the wait,
as Apple's drawing-classification sample does, so predictions come when the hand rests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from ..ink import Drawing, Stroke

SETTLE_MS = 500
LINE_WIDTH = 6.0  # logical pixels at pressure 0.5 (mouse)
INK = QColor("#202124")
PAPER = QColor("#ffffff")


@dataclass
class _Ink:
    """One stroke as collected: points, times (ms since the drawing began), pressures."""

    points: list[tuple[float, float]] = field(default_factory=list)
    t: list[float] = field(default_factory=list)
    pressure: list[float] = field(default_factory=list)


def stroke_path(points: list[tuple[float, float]]) -> QPainterPath:
    """A smooth path through the points: quadratic curves between midpoints, each sample a
    control point, so jitter from the mouse is rounded off without lagging behind the pen."""
    path = QPainterPath(QPointF(*points[0]))
    if len(points) == 1:
        path.lineTo(QPointF(points[0][0] + 0.01, points[0][1]))  # a dot: a round cap shows it
        return path
    if len(points) == 2:
        path.lineTo(QPointF(*points[1]))
        return path
    for (x0, y0), (x1, y1) in zip(points[1:-1], points[2:]):
        path.quadTo(QPointF(x0, y0), QPointF((x0 + x1) / 2, (y0 + y1) / 2))
    path.lineTo(QPointF(*points[-1]))
    return path


def paint_stroke(painter: QPainter, ink: _Ink, width: float, color: QColor = INK) -> None:
    """Draw one stroke; with varying pressure each stretch gets its own width."""
    pts = ink.points
    pressures = ink.pressure or [0.5] * len(pts)
    if len(set(round(p, 2) for p in pressures)) <= 1 or len(pts) < 3:
        painter.setPen(_pen(width * _pressure_scale(pressures[0]), color))
        painter.drawPath(stroke_path(pts))
        return
    for i in range(1, len(pts)):
        # Each piece runs between the midpoints around point i, curving through it.
        start = pts[0] if i == 1 else _mid(pts[i - 1], pts[i])
        end = pts[-1] if i == len(pts) - 1 else _mid(pts[i], pts[i + 1])
        piece = QPainterPath(QPointF(*start))
        piece.quadTo(QPointF(*pts[i]), QPointF(*end))
        painter.setPen(_pen(width * _pressure_scale(pressures[i]), color))
        painter.drawPath(piece)


def _mid(a, b):
    return ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)


def _pressure_scale(p: float) -> float:
    return 0.4 + 1.2 * min(max(p, 0.0), 1.0)  # 0.5 (mouse) -> 1.0


def _pen(width: float, color: QColor) -> QPen:
    pen = QPen(color, width)
    pen.setCapStyle(Qt.RoundCap)
    pen.setJoinStyle(Qt.RoundJoin)
    return pen


class Canvas(QWidget):
    """Collects strokes; undo/redo/clear; tells when the drawing changed and when it settled."""

    changed = Signal()  # a stroke was added, undone, redone, or the canvas cleared
    settled = Signal()  # SETTLE_MS after the last stroke ended, or after an undo/redo

    def __init__(self, parent: QWidget | None = None, settle_ms: int = SETTLE_MS):
        super().__init__(parent)
        self.setAttribute(Qt.WA_StaticContents)
        self.setAttribute(Qt.WA_TabletTracking, False)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setMinimumSize(280, 280)
        self.setCursor(Qt.CrossCursor)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setToolTip("Draw here with the mouse or a pen. Ctrl+Z undoes a stroke, Esc clears.")
        self._strokes: list[_Ink] = []
        # Undo/redo keep whole states (lists of strokes, shared, never changed in place).
        self._history: list[list[_Ink]] = []
        self._future: list[list[_Ink]] = []
        self._current: _Ink | None = None
        self._t0: float | None = None
        self._cache: QImage | None = None  # the finished strokes, so a move repaints little
        self._placeholder = "Draw something"
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(settle_ms)
        self._timer.timeout.connect(self.settled)

    # --- what others use -------------------------------------------------------------------

    def drawing(self) -> Drawing | None:
        """The ink as an :class:`emojisketch.ink.Drawing` (None when empty)."""
        if not self._strokes:
            return None
        return Drawing(tuple(Stroke(s.points, s.t, s.pressure) for s in self._strokes))

    def is_empty(self) -> bool:
        return not self._strokes

    def stroke_count(self) -> int:
        return len(self._strokes)

    def add_stroke(self, points, pressures=None) -> None:
        """Add a whole stroke, as if drawn (for demos and tests): the same path as the pen."""
        points = [(float(x), float(y)) for x, y in points]
        pressures = list(pressures) if pressures is not None else [0.5] * len(points)
        self._begin(points[0], pressures[0])
        for p, pr in zip(points[1:], pressures[1:]):
            self._extend(p, pr)
        self._end()

    def undo(self) -> None:
        """Take back the last stroke (or bring back what Clear removed)."""
        if self._history:
            self._future.append(self._strokes)
            self._strokes = self._history.pop()
            self._after_edit()

    def redo(self) -> None:
        if self._future:
            self._history.append(self._strokes)
            self._strokes = self._future.pop()
            self._after_edit()

    def can_undo(self) -> bool:
        return bool(self._history)

    def can_redo(self) -> bool:
        return bool(self._future)

    def clear(self, undoable: bool = True) -> None:
        """Empty the canvas; Undo brings the drawing back unless ``undoable`` is False (the
        drawing was just stored as an example and lives on in My emoji)."""
        if self._strokes or self._current:
            if undoable and self._strokes:
                self._history.append(self._strokes)
                self._future.clear()
            elif not undoable:
                self._history.clear()
                self._future.clear()
            self._strokes, self._current, self._t0 = [], None, None
            self._after_edit()

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    # --- input -----------------------------------------------------------------------------

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.LeftButton:
            self._begin(_xy(event.position()), 0.5)

    def mouseMoveEvent(self, event) -> None:
        if self._current is not None and event.buttons() & Qt.LeftButton:
            self._extend(_xy(event.position()), 0.5)

    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.LeftButton and self._current is not None:
            self._extend(_xy(event.position()), 0.5)
            self._end()

    def tabletEvent(self, event) -> None:
        # Accepting it stops Qt from also sending the synthesised mouse events.
        kind = event.type()
        xy, pressure = _xy(event.position()), float(event.pressure())
        if kind == event.Type.TabletPress:
            self._begin(xy, pressure)
        elif kind == event.Type.TabletMove and self._current is not None:
            self._extend(xy, pressure)
        elif kind == event.Type.TabletRelease and self._current is not None:
            self._extend(xy, pressure)
            self._end()
        event.accept()

    def _begin(self, xy, pressure) -> None:
        self._timer.stop()  # a new stroke cancels the pending prediction
        now = time.monotonic() * 1000.0
        if self._t0 is None:
            self._t0 = now
        self._current = _Ink([xy], [now - self._t0], [pressure])
        self.update()

    def _extend(self, xy, pressure) -> None:
        cur = self._current
        if cur.points[-1] == xy:
            return
        cur.points.append(xy)
        cur.t.append(time.monotonic() * 1000.0 - self._t0)
        cur.pressure.append(pressure)
        self.update()

    def _end(self) -> None:
        self._history.append(self._strokes)
        self._future.clear()
        self._strokes = self._strokes + [self._current]
        self._current = None
        self._cache = None
        self.update()
        self.changed.emit()
        self._timer.start()

    def _after_edit(self) -> None:
        # What is left of the drawing deserves fresh predictions, after the same short wait.
        if self._strokes:
            self._timer.start()
        else:
            self._timer.stop()
        self._cache = None
        self.update()
        self.changed.emit()

    # --- painting --------------------------------------------------------------------------

    def _line_width(self) -> float:
        return LINE_WIDTH * max(1.0, min(self.width(), self.height()) / 400.0)

    def resizeEvent(self, event) -> None:
        self._cache = None
        super().resizeEvent(event)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), PAPER)
        if not self._strokes and self._current is None:
            painter.setPen(QColor("#9aa0a6"))
            painter.drawText(self.rect(), Qt.AlignCenter, self._placeholder)
        if self._cache is None or self._cache.size() != self.size() * self.devicePixelRatioF():
            self._cache = self._render_finished()
        painter.drawImage(self.rect(), self._cache)
        if self._current is not None:
            painter.setRenderHint(QPainter.Antialiasing)
            paint_stroke(painter, self._current, self._line_width())
        painter.end()

    def _render_finished(self) -> QImage:
        ratio = self.devicePixelRatioF()
        image = QImage(self.size() * ratio, QImage.Format_ARGB32_Premultiplied)
        image.setDevicePixelRatio(ratio)
        image.fill(Qt.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.Antialiasing)
        for ink in self._strokes:
            paint_stroke(painter, ink, self._line_width())
        painter.end()
        return image


def _xy(pos) -> tuple[float, float]:
    return (float(pos.x()), float(pos.y()))
