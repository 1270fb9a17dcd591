"""The teaching banner: shown while the user draws a new emoji the few times it needs.

As in Apple's drawing-classification sample, a new emoji is learned from three drawings. The
banner shows which emoji, how many drawings are in, and offers Add (Enter) and Done.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from .. import catalog
from .emoji_art import emoji_pixmap

DRAWINGS_NEEDED = 3


class TeachBanner(QFrame):
    add_clicked = Signal()
    done_clicked = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFrameShape(QFrame.StyledPanel)
        self.setStyleSheet("TeachBanner { background: #fff8e1; }")
        self.picture = QLabel(self)
        self.text = QLabel(self)
        self.text.setWordWrap(True)
        self.add_button = QPushButton("Add drawing", self)
        self.add_button.setShortcut(QKeySequence(Qt.Key_Return))
        self.add_button.setToolTip("Keep this drawing as an example (Enter)")
        self.done_button = QPushButton("Done", self)
        self.done_button.setToolTip("Stop teaching and learn from the drawings so far")
        layout = QHBoxLayout(self)
        layout.addWidget(self.picture)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.add_button)
        layout.addWidget(self.done_button)
        self.add_button.clicked.connect(self.add_clicked)
        self.done_button.clicked.connect(self.done_clicked)
        self.label: str | None = None
        self.count = 0
        self.hide()

    def start(self, label: str, count: int) -> None:
        self.label = label
        self.picture.setPixmap(emoji_pixmap(label, 40))
        self.set_count(count)
        self.show()

    def set_count(self, count: int) -> None:
        self.count = count
        left = max(0, DRAWINGS_NEEDED - count)
        name = catalog.name_of(self.label or "")
        self.text.setText(
            f"<b>Teaching {name}</b>: {count} of {DRAWINGS_NEEDED} drawings. "
            + (f"Draw it {left} more time{'s' * (left != 1)}, then press Add (Enter)."
               if left else "That is enough."))

    def stop(self) -> None:
        self.label = None
        self.count = 0
        self.hide()

    @property
    def active(self) -> bool:
        return self.label is not None
