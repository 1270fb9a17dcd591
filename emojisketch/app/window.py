"""The main window: canvas, suggestions, teaching banner, My emoji, menus and status bar.

It wires widgets to the :class:`~emojisketch.app.session.Session` and holds no model logic.
Dialogs go through :class:`~emojisketch.app.dialogs.Dialogs` so tests can answer them
without a modal loop.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QHBoxLayout, QLabel, QMainWindow, QProgressBar,
                               QPushButton, QToolButton, QVBoxLayout, QWidget)

from .. import catalog
from ..errors import EmojisketchError
from .canvas import Canvas
from .dialogs import Dialogs, show_about, show_shortcuts
from .export_dialog import ExportProgress, folder_problem
from .my_emoji import MyEmojiPanel
from .session import Session
from .settings import KINDS, SettingsDialog, devices
from .suggestions import SuggestionBar
from .teach import DRAWINGS_NEEDED, TeachBanner

class MainWindow(QMainWindow):
    predictions_shown = Signal(list)  # [(label, prob)] now on the suggestion buttons

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.dialogs = Dialogs(self)
        self.setWindowTitle("EmojiSketch")
        self.resize(980, 680)
        self._build_widgets()
        self._build_menus()
        self._connect()
        self._export_progress: ExportProgress | None = None
        self.status("Loading the model…")

    # ---- layout --------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.canvas = Canvas(self)
        self.canvas.set_placeholder("Loading the model… you can start drawing")
        self.suggestions = SuggestionBar(self)
        self.teach = TeachBanner(self)
        tools = QHBoxLayout()
        self.undo_button = self._tool_button("Undo", "Undo the last stroke (Ctrl+Z)", self.canvas.undo)
        self.redo_button = self._tool_button("Redo", "Redo (Ctrl+Shift+Z)", self.canvas.redo)
        self.clear_button = self._tool_button("Clear", "Clear the canvas (Esc)", self.canvas.clear)
        for b in (self.undo_button, self.redo_button, self.clear_button):
            tools.addWidget(b)
        tools.addStretch(1)
        self.hint = QLabel("Draw something; the emoji it looks like appear below.", self)
        self.hint.setStyleSheet("color: #5f6368;")
        tools.addWidget(self.hint)
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.addWidget(self.teach)
        layout.addLayout(tools)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.suggestions)
        self.setCentralWidget(central)
        self.my_emoji = MyEmojiPanel(self)
        self.dock = QDockWidget("My emoji", self)
        self.dock.setObjectName("my-emoji")
        self.dock.setWidget(self.my_emoji)
        self.addDockWidget(Qt.RightDockWidgetArea, self.dock)
        bar = self.statusBar()
        self.progress = QProgressBar(self)
        self.progress.setMaximumWidth(260)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel update", self)
        self.cancel_button.setToolTip("Stop learning now; your drawings are kept (Ctrl+.)")
        self.cancel_button.hide()
        self.model_label = QLabel(self)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)
        bar.addPermanentWidget(self.model_label)

    def _tool_button(self, text, tip, slot) -> QToolButton:
        b = QToolButton(self)
        b.setText(text)
        b.setToolTip(tip)
        b.clicked.connect(slot)
        return b

    def _action(self, menu, text, slot, shortcut=None, tip=None) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        m = self.menuBar().addMenu("&File")
        self.export_action = self._action(m, "&Export personalized model…", self.export_model,
                                          "Ctrl+E", "Save your model as an updatable Core ML model")
        self.import_action = self._action(m, "&Import…", self.import_model, "Ctrl+I",
                                          "Use a .mlmodel exported by EmojiSketch")
        m.addSeparator()
        self._action(m, "&Settings…", self.open_settings, QKeySequence.Preferences)
        self._action(m, "Settings…", self.open_settings, "Ctrl+,").setVisible(False)
        m.addSeparator()
        self._action(m, "&Quit", self.close, QKeySequence.Quit)
        m = self.menuBar().addMenu("&Edit")
        self.undo_action = self._action(m, "&Undo stroke", self.canvas.undo, QKeySequence.Undo)
        self.redo_action = self._action(m, "&Redo stroke", self.canvas.redo, "Ctrl+Shift+Z")
        self._action(m, "Redo", self.canvas.redo, "Ctrl+Y").setVisible(False)
        self._action(m, "&Clear", self.canvas.clear, "Esc", "Clear the canvas")
        m.addSeparator()
        self.undo_correction_action = self._action(
            m, "Undo last &correction", self.undo_correction, "Ctrl+Alt+Z",
            "Forget the drawing you taught last; it comes back on the canvas")
        self.cancel_action = self._action(m, "Cancel &update", self.session.cancel_update,
                                          "Ctrl+.", "Stop the running update")
        self.none_action = self._action(m, "&Name this drawing…", self.name_drawing, "Ctrl+F",
                                        "Choose the emoji for the drawing from the list")
        m = self.menuBar().addMenu("&View")
        toggle = self.dock.toggleViewAction()
        toggle.setShortcut(QKeySequence("Ctrl+M"))
        m.addAction(toggle)
        m = self.menuBar().addMenu("&Help")
        self._action(m, "&Keyboard shortcuts", self.show_shortcuts, QKeySequence.HelpContents)
        self._action(m, "&About EmojiSketch", self.show_about)

    def _connect(self) -> None:
        s = self.session
        self.canvas.settled.connect(self.predict)
        self.canvas.changed.connect(self._canvas_changed)
        self.suggestions.accepted.connect(self.correct)
        self.suggestions.none_of_these.connect(self.name_drawing)
        self.teach.add_clicked.connect(self.add_teaching_drawing)
        self.teach.done_clicked.connect(self.finish_teaching)
        self.cancel_button.clicked.connect(s.cancel_update)
        self.my_emoji.delete_requested.connect(self.delete_example)
        self.my_emoji.reset_requested.connect(self.reset)
        s.model_ready.connect(self._model_ready)
        s.examples_changed.connect(self.refresh_my_emoji)
        s.update_started.connect(self._update_started)
        s.update_progress.connect(self._update_progress)
        s.update_finished.connect(self._update_finished)
        s.update_cancelled.connect(self._update_cancelled)
        s.update_failed.connect(self._update_failed)
        s.export_progress.connect(lambda p: self._export_progress and self._export_progress.report(p))
        s.export_finished.connect(self._export_finished)
        s.import_finished.connect(lambda path: self.status(f"Imported {path.name}: it is now your model."))
        s.job_failed.connect(self._job_failed)
        s.warning.connect(lambda msg: self.dialogs.error("EmojiSketch repaired its files", msg))
        self._canvas_changed()

    # ---- status --------------------------------------------------------------------------

    def status(self, text: str, ms: int = 0) -> None:
        self.statusBar().showMessage(text, ms)

    def _model_ready(self, model) -> None:
        kind = KINDS.get(model.kind, model.kind)
        n_user = model.meta.get("n_examples", 0)
        self.model_label.setText(f"{len(model.labels)} emoji · {kind}"
                                 + (f" · {n_user} of your drawings" if n_user else ""))
        self.canvas.set_placeholder("Draw something")
        if not self.session.updating():
            self.status("Ready.", 3000)
        self.refresh_my_emoji()
        self.predict()

    # ---- drawing and predicting ----------------------------------------------------------

    def predict(self) -> list:
        """Show the current model's top five for the canvas (and return them)."""
        drawing = self.canvas.drawing()
        if drawing is None or self.session.model is None or self.teach.active:
            self.suggestions.clear()
            return []
        try:
            predictions = self.session.predict(drawing)
        except EmojisketchError as exc:
            self.suggestions.clear()
            self.status(str(exc), 5000)
            return []
        self.suggestions.set_predictions(predictions)
        self.predictions_shown.emit(predictions)
        return predictions

    def _canvas_changed(self) -> None:
        empty = self.canvas.is_empty()
        if empty:
            self.suggestions.clear()
        self.undo_button.setEnabled(self.canvas.can_undo())
        self.redo_button.setEnabled(self.canvas.can_redo())
        self.clear_button.setEnabled(not empty)
        self.teach.add_button.setEnabled(not empty)

    # ---- teaching ------------------------------------------------------------------------

    def correct(self, label: str) -> None:
        """The drawing on the canvas is ``label``: keep it, and learn it (or start teaching
        it, if the model does not know it yet)."""
        drawing = self.canvas.drawing()
        if drawing is None or self.session.store is None:
            return
        if self.teach.active:
            if label == self.teach.label:
                self.add_teaching_drawing()
                return
            self.finish_teaching()  # another emoji: learn what was taught so far, go on
        new = not self.session.knows(label)
        if new:
            self.session.hold_updates(True)
        try:
            self.session.add_example(drawing, label)
        except EmojisketchError as exc:
            self.session.hold_updates(False)
            self.dialogs.error("The drawing could not be saved", str(exc))
            return
        self.canvas.clear(undoable=False)
        name = catalog.name_of(label)
        if new:
            count = self.session.store.counts().get(label, 1)
            self.teach.start(label, count)
            if count >= DRAWINGS_NEEDED:
                self.finish_teaching()
            else:
                self.status(f"New emoji: {name}. Draw it {DRAWINGS_NEEDED - count} more "
                            f"time{'s' * (DRAWINGS_NEEDED - count != 1)}.")
        else:
            self.status(f"Saved as {name}." + (" It will be learned after the running update."
                                               if self.session.updating() else ""), 4000)

    def name_drawing(self) -> None:
        """"None of these": choose the emoji from the picker."""
        if self.canvas.is_empty() or self.session.model is None:
            return
        preferred = self.suggestions.labels() + list(self.session.store.counts())
        label = self.dialogs.pick_emoji(preferred)
        if label:
            self.correct(label)

    def add_teaching_drawing(self) -> None:
        drawing = self.canvas.drawing()
        if not self.teach.active or drawing is None:
            return
        try:
            self.session.add_example(drawing, self.teach.label)
        except EmojisketchError as exc:
            self.dialogs.error("The drawing could not be saved", str(exc))
            return
        self.canvas.clear(undoable=False)
        self.teach.set_count(self.teach.count + 1)
        if self.teach.count >= DRAWINGS_NEEDED:
            self.finish_teaching()

    def finish_teaching(self) -> None:
        if not self.teach.active:
            return
        name = catalog.name_of(self.teach.label)
        self.teach.stop()
        self.status(f"Learning {name}…")
        self.session.hold_updates(False)

    def undo_correction(self) -> None:
        if self.session.store is None:
            return
        example = self.session.undo_last_correction()
        if example is None:
            self.status("There is no correction to undo.", 3000)
            return
        if self.teach.active and example.label == self.teach.label:
            self.teach.set_count(max(0, self.teach.count - 1))
        self.canvas.clear()
        for stroke in example.drawing.strokes:
            self.canvas.add_stroke(stroke.points.tolist())
        self.status(f"Took back the drawing saved as {catalog.name_of(example.label)}; "
                    "it is on the canvas again.", 5000)

    def delete_example(self, example_id) -> None:
        self.session.delete_example(example_id)

    def reset(self) -> None:
        answer = self.dialogs.confirm_reset()
        if answer is None:
            return
        self.teach.stop()
        self.session.hold_updates(False)
        self.session.reset(keep_examples=answer == "keep")
        self.status("Back to the base model.", 5000)

    def refresh_my_emoji(self) -> None:
        if self.session.store is not None:
            self.my_emoji.refresh(self.session.store.counts(), self.session.store.examples)

    # ---- updates -------------------------------------------------------------------------

    def _update_started(self, info) -> None:
        self.progress.setRange(0, 0)
        self.progress.setFormat("Learning…")
        self.progress.show()
        self.cancel_button.show()
        n = info["examples"]
        what = "Rebuilding your model" if info["rebuild"] else "Learning"
        self.status(f"{what} from {n} drawing{'s' * (n != 1)}… you can keep drawing.")

    def _update_progress(self, event) -> None:
        if event.kind in ("began", "minibatch_end", "epoch_end") and event.epochs:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(event.progress * 1000))
            epoch = (event.epoch or 0) + 1
            loss = f" · loss {event.loss:.3f}" if event.loss is not None else ""
            self.progress.setFormat(f"Epoch {epoch}/{event.epochs}{loss}")

    def _update_done(self) -> None:
        self.progress.hide()
        self.cancel_button.hide()

    def _update_finished(self, summary: str) -> None:
        self._update_done()
        self.status(summary, 10000)

    def _update_cancelled(self) -> None:
        self._update_done()
        self.status("Update cancelled: the model is as it was. Your drawings are kept and "
                    "will be learned by the next update.", 8000)

    def _update_failed(self, message: str) -> None:
        self._update_done()
        self.status("The update failed; the model is as it was.", 8000)
        self.dialogs.error("The update failed", message)

    def _job_failed(self, title: str, message: str) -> None:
        if self._export_progress is not None:
            self._export_progress.close()
            self._export_progress = None
        self.status(title, 8000)
        self.dialogs.error(title, message)

    # ---- files and settings --------------------------------------------------------------

    def export_model(self) -> None:
        if self.session.model is None:
            return
        path = self.dialogs.ask_export_path()
        if path is None:
            return
        problem = folder_problem(path)
        if problem is not None:
            self.dialogs.error("Cannot export there", problem)
            return
        self._export_progress = ExportProgress(self, path)
        self._export_progress.show()
        self.session.export(path)
        self.status(f"Exporting to {path}…")

    def _export_finished(self, path) -> None:
        if self._export_progress is not None:
            self._export_progress.close()
            self._export_progress = None
        self.status(f"Exported your model to {path}.", 10000)

    def import_model(self) -> None:
        if self.session.store is None:
            return
        path = self.dialogs.ask_import_path()
        if path is not None:
            self.session.import_model(path)
            self.status(f"Importing {path.name}…")

    def open_settings(self) -> None:
        model = self.session.model
        if model is None:
            return
        dialog = SettingsDialog(self.session.settings, model.update_description()["parameters"],
                                model.kind, self,
                                devices(model, self.session.cuda_available()))
        if dialog.exec():
            self.session.apply_settings(dialog.result_settings())
            self.status("Settings saved.", 3000)

    def show_about(self) -> None:
        show_about(self)

    def show_shortcuts(self) -> None:
        show_shortcuts(self)

    def closeEvent(self, event) -> None:
        self.session.shutdown()
        super().closeEvent(event)
