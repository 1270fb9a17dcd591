"""The "My emoji" panel: the emoji you have taught, how many drawings each, thumbnails of
the stored drawings, deleting one, and resetting to the base model.

The panel shows what it is given and asks for changes through signals; the window talks to
the store. Thumbnails are drawn from the stored strokes with the canvas's own painter (a
picture for people, not the model's input).
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QKeySequence, QPainter, QPixmap, QShortcut
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton,
                               QVBoxLayout, QWidget)

from .. import catalog
from ..ink import Drawing
from .canvas import _Ink, paint_stroke
from .emoji_art import emoji_icon

THUMB = 72


def drawing_pixmap(drawing: Drawing, size: int = THUMB, margin: int = 6) -> QPixmap:
    """The drawing scaled to fit a square, dark ink on white."""
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor("#ffffff"))
    points = [p for s in drawing.strokes for p in s.points]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1e-6)
    scale = (size - 2 * margin) / span
    ox = margin + ((size - 2 * margin) - (max(xs) - min(xs)) * scale) / 2
    oy = margin + ((size - 2 * margin) - (max(ys) - min(ys)) * scale) / 2
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.Antialiasing)
    for stroke in drawing.strokes:
        pts = [(ox + (x - min(xs)) * scale, oy + (y - min(ys)) * scale) for x, y in stroke.points]
        paint_stroke(painter, _Ink(pts), 2.0)
    painter.end()
    return pixmap


class MyEmojiPanel(QWidget):
    delete_requested = Signal(object)  # example id
    reset_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._examples_for: Callable[[str], list] = lambda label: []
        self.summary = QLabel("You have not taught any emoji yet.", self)
        self.summary.setWordWrap(True)
        self.labels = QListWidget(self)
        self.labels.setIconSize(QSize(32, 32))
        self.labels.setToolTip("The emoji you have drawn, with how many drawings of each")
        self.thumbs = QListWidget(self)
        self.thumbs.setViewMode(QListWidget.IconMode)
        self.thumbs.setIconSize(QSize(THUMB, THUMB))
        self.thumbs.setResizeMode(QListWidget.Adjust)
        self.thumbs.setMovement(QListWidget.Static)
        self.thumbs.setSelectionMode(QListWidget.ExtendedSelection)
        self.thumbs.setToolTip("Your drawings of this emoji. Select one and press Delete to "
                               "remove it.")
        self.delete_button = QPushButton("Delete drawing", self)
        self.delete_button.setToolTip("Remove the selected drawings from your examples (Del)")
        self.delete_button.setEnabled(False)
        self.reset_button = QPushButton("Reset to base model…", self)
        self.reset_button.setToolTip("Forget the personalized model (asks first)")
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.labels, 2)
        layout.addWidget(self.thumbs, 3)
        row = QHBoxLayout()
        row.addWidget(self.delete_button)
        row.addStretch(1)
        row.addWidget(self.reset_button)
        layout.addLayout(row)
        self.labels.currentItemChanged.connect(lambda *_: self._show_examples())
        self.thumbs.itemSelectionChanged.connect(
            lambda: self.delete_button.setEnabled(bool(self.thumbs.selectedItems())))
        self.delete_button.clicked.connect(self._delete_selected)
        self.reset_button.clicked.connect(self.reset_requested)
        shortcut = QShortcut(QKeySequence.Delete, self.thumbs)
        shortcut.setContext(Qt.WidgetShortcut)
        shortcut.activated.connect(self._delete_selected)

    def refresh(self, counts: dict[str, int], examples_for: Callable[[str], list]) -> None:
        """Show ``counts`` (label -> number of examples); ``examples_for(label)`` gives the
        label's examples (objects with ``id`` and ``drawing``) when it is selected."""
        self._examples_for = examples_for
        current = self.current_label()
        self.labels.blockSignals(True)
        self.labels.clear()
        for label, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            item = QListWidgetItem(emoji_icon(label, 32),
                                   f"{catalog.name_of(label)} — {n} drawing{'s' * (n != 1)}")
            item.setData(Qt.UserRole, label)
            self.labels.addItem(item)
            if label == current:
                self.labels.setCurrentItem(item)
        self.labels.blockSignals(False)
        total = sum(counts.values())
        self.summary.setText(
            f"{len(counts)} emoji, {total} drawing{'s' * (total != 1)}." if counts
            else "You have not taught any emoji yet. Draw, then pick the right emoji.")
        if self.labels.currentItem() is None and self.labels.count():
            self.labels.setCurrentRow(0)
        else:
            self._show_examples()

    def current_label(self) -> str | None:
        item = self.labels.currentItem()
        return item.data(Qt.UserRole) if item else None

    def select_label(self, label: str) -> None:
        for row in range(self.labels.count()):
            if self.labels.item(row).data(Qt.UserRole) == label:
                self.labels.setCurrentRow(row)
                return

    def _show_examples(self) -> None:
        self.thumbs.clear()
        label = self.current_label()
        if label is None:
            return
        for example in self._examples_for(label):
            item = QListWidgetItem(QIcon(drawing_pixmap(example.drawing)), "")
            item.setData(Qt.UserRole, example.id)
            created = getattr(example, "created", None)
            item.setToolTip(f"drawing {example.id}" + (f", {created}" if created else ""))
            self.thumbs.addItem(item)

    def _delete_selected(self) -> None:
        for item in self.thumbs.selectedItems():
            self.delete_requested.emit(item.data(Qt.UserRole))
