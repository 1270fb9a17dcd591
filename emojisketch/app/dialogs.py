"""The questions the window asks (picker, reset, files, errors), and Help's About and
Keyboard shortcuts boxes with the credits.

The window asks through :class:`Dialogs`, so tests can swap in answers instead of running
modal dialogs.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from .export_dialog import ask_export_path, ask_import_path
from .picker import EmojiPicker

CREDITS = (
    "<p>Emoji art: OpenMoji – the open-source emoji and icon project, CC BY-SA 4.0 "
    "(openmoji.org).</p>"
    "<p>Quick, Draw! dataset by Google Creative Lab, CC BY 4.0.</p>"
)
SHORTCUTS = [
    ("Ctrl+Z / Ctrl+Shift+Z", "undo / redo a stroke"),
    ("Esc", "clear the canvas"),
    ("1 … 5", "pick a suggestion"),
    ("0", "none of these: choose the emoji"),
    ("Enter", "add a drawing while teaching"),
    ("Ctrl+Alt+Z", "undo the last correction"),
    ("Ctrl+.", "cancel the running update"),
    ("Ctrl+M", "show or hide My emoji"),
    ("Ctrl+E / Ctrl+I", "export / import a Core ML model"),
    ("Ctrl+,", "settings"),
]


class Dialogs:
    """Every question the window asks the user; tests swap in answers."""

    def __init__(self, window: QWidget):
        self.window = window

    def pick_emoji(self, preferred: list[str]) -> str | None:
        picker = EmojiPicker(self.window, preferred=preferred)
        return picker.chosen if picker.exec() else None

    def confirm_reset(self) -> str | None:
        """'erase', 'keep' or None (cancelled)."""
        box = QMessageBox(QMessageBox.Warning, "Reset to the base model",
                          "Go back to the base model? What it learned from your drawings is "
                          "forgotten.", parent=self.window)
        erase = box.addButton("Reset and erase my drawings", QMessageBox.DestructiveRole)
        keep = box.addButton("Reset, keep my drawings", QMessageBox.AcceptRole)
        keep.setToolTip("Your drawings stay in My emoji and are learned again by the next update")
        box.addButton(QMessageBox.Cancel)
        box.exec()
        return {erase: "erase", keep: "keep"}.get(box.clickedButton())

    def ask_export_path(self) -> Path | None:
        return ask_export_path(self.window)

    def ask_import_path(self) -> Path | None:
        return ask_import_path(self.window)

    def error(self, title: str, message: str) -> None:
        box = QMessageBox(QMessageBox.Warning, title, message, parent=self.window)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.setWindowModality(Qt.WindowModal)
        box.show()  # not exec(): the app keeps running behind it


def show_about(parent: QWidget) -> None:
    QMessageBox.about(parent, "About EmojiSketch",
                      "<h3>EmojiSketch</h3><p>Draw a doodle, get an emoji. Teach it your "
                      "own drawings; everything stays on this computer.</p>" + CREDITS)


def show_shortcuts(parent: QWidget) -> None:
    rows = "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in SHORTCUTS)
    QMessageBox.information(parent, "Keyboard shortcuts", f"<table>{rows}</table>")
