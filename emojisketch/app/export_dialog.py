"""File > Export and File > Import: the file dialogs, the writable-folder check, and a
progress dialog while the worker converts the model.

The conversion itself (coremltools, imported only then) runs on the background lane; this
module only asks where, checks the folder before any work starts, and shows progress.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QProgressDialog, QWidget

FILTER = "Core ML model (*.mlmodel)"
DEFAULT_NAME = "EmojiSketch.mlmodel"


def ask_export_path(parent: QWidget | None) -> Path | None:
    path, _ = QFileDialog.getSaveFileName(parent, "Export personalized model",
                                          str(Path.home() / DEFAULT_NAME), FILTER)
    if not path:
        return None
    path = Path(path)
    return path if path.suffix.lower() == ".mlmodel" else path.with_suffix(".mlmodel")


def ask_import_path(parent: QWidget | None) -> Path | None:
    path, _ = QFileDialog.getOpenFileName(parent, "Import a Core ML model", str(Path.home()),
                                          FILTER)
    return Path(path) if path else None


def folder_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be written (a sentence for the user), or None if it can.

    Tries a real temporary file: permission bits alone miss read-only mounts and full disks.
    """
    folder = Path(path).parent
    if not folder.is_dir():
        return f"The folder {folder} does not exist. Choose another folder."
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".emojisketch-check-"):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return (f"Cannot write to the folder {folder} ({reason}). "
                "Choose a folder you can write to, such as your Documents folder.")
    if Path(path).is_dir():
        return f"{path} is a folder. Choose a file name ending in .mlmodel."
    return None


class ExportProgress(QProgressDialog):
    """A window-modal progress dialog for an export; it follows the job's progress payloads
    ((fraction, sentence) as the exporter reports, a fraction, (done, total), or a sentence)."""

    def __init__(self, parent: QWidget | None, path: Path):
        super().__init__(f"Exporting to {path.name}…", None, 0, 0, parent)
        self.setWindowTitle("Export")
        self.setWindowModality(Qt.WindowModal)
        self.setMinimumDuration(300)
        self.setAutoClose(True)

    def report(self, payload) -> None:
        if isinstance(payload, tuple) and len(payload) == 2 and isinstance(payload[1], str):
            fraction, message = payload
            self.report(message)
            self.report(fraction)
        elif isinstance(payload, str):
            self.setLabelText(payload)
        elif isinstance(payload, (int, float)) and not isinstance(payload, bool):
            self.setRange(0, 100)
            self.setValue(int(max(0.0, min(1.0, float(payload))) * 100))
        elif isinstance(payload, tuple) and len(payload) == 2:
            done, total = payload
            self.setRange(0, int(total))
            self.setValue(int(done))
