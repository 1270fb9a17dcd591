"""The emoji picker: search every emoji by name and keyword, pick one to name a drawing.

Names and keywords come from :mod:`emojisketch.catalog` (the ``emoji`` package's metadata);
pictures are rendered only for the rows on screen. With an empty query the emoji the model
already knows come first, so correcting a near miss is one click.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QLabel, QLineEdit, QListView,
                               QVBoxLayout, QWidget)

from .. import catalog
from .emoji_art import emoji_icon

ICON = 40


class EmojiListModel(QAbstractListModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._entries: list[catalog.Entry] = []

    def set_entries(self, entries: list[catalog.Entry]) -> None:
        self.beginResetModel()
        self._entries = list(entries)
        self.endResetModel()

    def entry(self, row: int) -> catalog.Entry:
        return self._entries[row]

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._entries)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        entry = self._entries[index.row()]
        if role == Qt.DecorationRole:
            return emoji_icon(entry.emoji, ICON)
        if role == Qt.ToolTipRole:
            extra = f" ({', '.join(entry.keywords)})" if entry.keywords else ""
            return entry.name + extra
        if role == Qt.AccessibleTextRole:
            return entry.name
        if role == Qt.UserRole:
            return entry.emoji
        return None


class EmojiPicker(QDialog):
    """A dialog that returns one emoji string (``chosen``) or is cancelled."""

    picked = Signal(str)

    def __init__(self, parent: QWidget | None = None, title: str = "Which emoji is it?",
                 preferred: list[str] | None = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(560, 480)
        self.chosen: str | None = None
        self._preferred = [e for e in (catalog.get(p) for p in preferred or []) if e]
        self.search_edit = QLineEdit(self)
        self.search_edit.setPlaceholderText("Search emoji by name or keyword, e.g. apple, cat…")
        self.search_edit.setClearButtonEnabled(True)
        self.model = EmojiListModel(self)
        self.view = QListView(self)
        self.view.setViewMode(QListView.IconMode)
        self.view.setResizeMode(QListView.Adjust)
        self.view.setUniformItemSizes(True)
        self.view.setIconSize(QSize(ICON, ICON))
        self.view.setGridSize(QSize(ICON + 16, ICON + 16))
        self.view.setMovement(QListView.Static)
        self.view.setModel(self.model)
        self.name_label = QLabel(" ", self)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, self)
        self.ok_button = buttons.button(QDialogButtonBox.Ok)
        self.ok_button.setEnabled(False)
        buttons.accepted.connect(self._accept_current)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search_edit)
        layout.addWidget(self.view)
        layout.addWidget(self.name_label)
        layout.addWidget(buttons)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(120)
        self._debounce.timeout.connect(self._refresh)
        self.search_edit.textChanged.connect(lambda _: self._debounce.start())
        self.search_edit.returnPressed.connect(self._accept_first)
        self.view.selectionModel().currentChanged.connect(self._current_changed)
        self.view.activated.connect(lambda index: self._accept_index(index))
        self._refresh()

    def search(self, text: str) -> None:
        """Set the query and show its results now (no typing delay)."""
        self.search_edit.setText(text)
        self._debounce.stop()
        self._refresh()

    def results(self) -> list[str]:
        return [self.model.entry(r).emoji for r in range(self.model.rowCount())]

    def choose(self, text: str) -> None:
        self.chosen = text
        self.picked.emit(text)
        self.accept()

    def _refresh(self) -> None:
        query = self.search_edit.text()
        found = catalog.search(query)
        if not query.strip() and self._preferred:
            first = {e.emoji for e in self._preferred}
            found = self._preferred + [e for e in found if e.emoji not in first]
        self.model.set_entries(found)
        if found:
            self.view.setCurrentIndex(self.model.index(0))
        else:
            self.name_label.setText(f"No emoji matches “{query}”.")
            self.ok_button.setEnabled(False)

    def _current_changed(self, index, _previous=None) -> None:
        if index.isValid():
            entry = self.model.entry(index.row())
            self.name_label.setText(entry.name)
            self.ok_button.setEnabled(True)

    def _accept_index(self, index) -> None:
        if index.isValid():
            self.choose(self.model.entry(index.row()).emoji)

    def _accept_current(self) -> None:
        self._accept_index(self.view.currentIndex())

    def _accept_first(self) -> None:
        if self._debounce.isActive():
            self._debounce.stop()
            self._refresh()
        self._accept_current()
