"""The row of suggested emoji: five large buttons with pictures and confidences, and
"None of these".

Clicking a suggestion (or pressing 1-5) says "this is what I drew"; "None of these" (0) asks
for the right emoji in the picker. The widget only shows and reports; the window decides.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QSizePolicy, QToolButton, QWidget

from .. import catalog
from .emoji_art import emoji_icon

TOP = 5
ICON = 56


class SuggestionBar(QWidget):
    accepted = Signal(str)  # the label the user picked
    none_of_these = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.buttons: list[QToolButton] = []
        self._labels: list[str | None] = [None] * TOP
        for i in range(TOP):
            button = QToolButton(self)
            button.setToolButtonStyle(Qt.ToolButtonTextUnderIcon)
            button.setIconSize(QSize(ICON, ICON))
            button.setMinimumSize(ICON + 28, ICON + 34)
            button.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
            # Not button.setShortcut: setText() replaces a button's shortcut with its mnemonic.
            key = QShortcut(QKeySequence(str(i + 1)), self)
            key.activated.connect(lambda i=i: self.buttons[i].isEnabled() and self._clicked(i))
            button.setAutoRaise(False)
            button.clicked.connect(lambda _=False, i=i: self._clicked(i))
            layout.addWidget(button)
            self.buttons.append(button)
        self.none_button = QToolButton(self)
        self.none_button.setText("None of\nthese…")
        self.none_button.setMinimumSize(ICON + 28, ICON + 34)
        key = QShortcut(QKeySequence("0"), self)
        key.activated.connect(lambda: self.none_button.isEnabled() and self.none_button.click())
        self.none_button.setToolTip("Pick the right emoji from the list (0)")
        self.none_button.clicked.connect(self.none_of_these)
        layout.addWidget(self.none_button)
        self.clear()

    def set_predictions(self, predictions: list[tuple[str, float]]) -> None:
        """Show up to five (label, probability) pairs, best first."""
        for i, button in enumerate(self.buttons):
            if i < len(predictions):
                label, prob = predictions[i]
                self._labels[i] = label
                button.setIcon(emoji_icon(label, ICON))
                button.setText(f"{prob * 100:.0f}%")
                button.setToolTip(f"{catalog.name_of(label)} — {prob * 100:.1f}% ({i + 1})")
                button.setEnabled(True)
            else:
                self._clear_button(i)
        self.none_button.setEnabled(True)

    def clear(self) -> None:
        for i in range(TOP):
            self._clear_button(i)
        self.none_button.setEnabled(False)

    def labels(self) -> list[str]:
        return [label for label in self._labels if label is not None]

    def _clear_button(self, i: int) -> None:
        self._labels[i] = None
        button = self.buttons[i]
        button.setIcon(QIcon())
        button.setText(" ")
        button.setToolTip("")
        button.setEnabled(False)

    def _clicked(self, i: int) -> None:
        if self._labels[i] is not None:
            self.accepted.emit(self._labels[i])
