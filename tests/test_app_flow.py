"""The whole window, offscreen: draw with mouse events, see suggestions, correct, wait for the
background update, see the prediction change; cancel, undo, reset, export; and the UI thread
stays responsive while an update runs."""

import os
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer

from emojisketch.app.session import Session
from emojisketch.app.settings import AppSettings
from emojisketch.app.teach import DRAWINGS_NEEDED
from emojisketch.app.window import MainWindow

from app_helpers import BASE_LABELS, circle, draw, make_base, zigzag

# A slow head update: many epochs of one-example mini-batches, so there is time to cancel it
# or to watch the event loop while it runs.
SLOW_NN = {"epochs": 100, "mini_batch_size": 1, "augment": 8, "replay": 8}


class FakeDialogs:
    """Answers the window's questions without modal dialogs."""

    def __init__(self):
        self.pick = None
        self.reset_answer = None
        self.export_path = None
        self.errors = []

    def pick_emoji(self, preferred):
        return self.pick

    def confirm_reset(self):
        return self.reset_answer

    def ask_export_path(self):
        return self.export_path

    def ask_import_path(self):
        return None

    def error(self, title, message):
        self.errors.append((title, message))


@pytest.fixture(scope="module")
def base_file(tmp_path_factory):
    return make_base(tmp_path_factory.mktemp("base") / "base.safetensors")


def open_window(qtbot, base_file, kind="knn", parameters=None):
    settings = AppSettings(kind=kind, parameters={kind: parameters or {}})
    session = Session(settings, base_path=base_file)
    window = MainWindow(session)
    window.dialogs = FakeDialogs()
    window.canvas.setFixedSize(300, 300)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(session.model_ready, timeout=30000):
        session.start()
    # The warm-up job (first optimizer, emoji names) follows the load; let it finish so
    # that the tests time updates, not one-off imports.
    qtbot.waitUntil(lambda: not session.lane.busy(), timeout=30000)
    return window


@pytest.fixture
def window(qtbot, base_file):
    w = open_window(qtbot, base_file)
    yield w
    w.close()


def predictions_for(qtbot, window, strokes):
    """Clear the canvas, draw, and wait for the suggestions (0.5 s after the last stroke)."""
    window.canvas.clear(undoable=False)
    with qtbot.waitSignal(window.predictions_shown, timeout=5000) as blocker:
        draw(window.canvas, strokes)
    return blocker.args[0]


def test_teaching_a_new_emoji_changes_the_prediction_for_the_same_drawing(qtbot, window):
    session = window.session
    before = predictions_for(qtbot, window, zigzag())
    assert len(before) == 5 and {label for label, _ in before} <= set(BASE_LABELS)
    assert window.suggestions.labels() == [label for label, _ in before]

    window.dialogs.pick = "🦄"  # "None of these" -> the picker -> unicorn
    window.suggestions.none_button.click()
    assert window.teach.active and window.teach.count == 1
    assert window.canvas.is_empty()
    assert session.store.counts() == {"🦄": 1}  # stored at once, before any update
    assert not session.updating()  # teaching holds the update until all drawings are in

    for i in range(1, DRAWINGS_NEEDED):
        draw(window.canvas, zigzag(x0=60 + 5 * i, y0=80 - 3 * i))
        if i == DRAWINGS_NEEDED - 1:
            with qtbot.waitSignal(session.update_finished, timeout=30000) as done:
                window.teach.add_button.click()
        else:
            window.teach.add_button.click()
            assert window.teach.count == 2
    assert not window.teach.active
    assert "unicorn" in done.args[0]
    assert "🦄" in session.model.labels
    assert session.store.pending_examples() == []

    after = predictions_for(qtbot, window, zigzag())
    assert after[0][0] == "🦄" and after[0][1] > 0.9
    assert window.suggestions.labels()[0] == "🦄"
    assert window.my_emoji.labels.count() == 1 and window.my_emoji.thumbs.count() == 3


def test_accepting_a_suggestion_stores_and_learns_it(qtbot, window):
    session = window.session
    predictions = predictions_for(qtbot, window, circle())
    third = predictions[2][0]
    with qtbot.waitSignal(session.update_finished, timeout=30000):
        window.suggestions.buttons[2].click()
    assert session.store.counts() == {third: 1}
    assert predictions_for(qtbot, window, circle())[0][0] == third


def test_undo_a_correction_brings_the_drawing_back_and_rebuilds(qtbot, window):
    session = window.session
    before = predictions_for(qtbot, window, circle())
    label = before[3][0]
    with qtbot.waitSignal(session.update_finished, timeout=30000):
        window.correct(label)
    assert predictions_for(qtbot, window, circle())[0][0] == label
    window.canvas.clear(undoable=False)

    with qtbot.waitSignal(session.update_finished, timeout=30000) as rebuilt:
        window.undo_correction_action.trigger()
        assert window.canvas.stroke_count() == 1  # the drawing is back on the canvas
        assert session.store.counts() == {}
    assert "base model" in rebuilt.args[0]
    assert session.model.meta["n_examples"] == 0
    assert window.predict() == before  # the same suggestions as before the correction


def test_reset_goes_back_to_the_base_model(qtbot, window):
    session = window.session
    predictions_for(qtbot, window, zigzag())
    window.dialogs.pick = "🦄"
    with qtbot.waitSignal(session.update_finished, timeout=30000):
        window.name_drawing()
        for _ in range(DRAWINGS_NEEDED - 1):
            draw(window.canvas, zigzag())
            window.add_teaching_drawing()
    assert "🦄" in session.model.labels

    window.dialogs.reset_answer = None  # cancelled: nothing happens
    window.my_emoji.reset_button.click()
    assert "🦄" in session.model.labels
    window.dialogs.reset_answer = "erase"
    with qtbot.waitSignal(session.model_ready, timeout=30000):
        window.my_emoji.reset_button.click()
    assert session.model.labels == BASE_LABELS
    assert session.store.counts() == {} and window.my_emoji.labels.count() == 0


def test_delete_an_example_from_my_emoji(qtbot, window):
    session = window.session
    predictions_for(qtbot, window, circle())
    with qtbot.waitSignal(session.update_finished, timeout=30000):
        window.correct("🐟")
    example_id = session.store.examples()[0].id
    window.my_emoji.thumbs.item(0).setSelected(True)
    with qtbot.waitSignal(session.update_finished, timeout=30000):
        window.my_emoji.delete_button.click()
    assert session.store.counts() == {} and session.model.meta["n_examples"] == 0
    assert example_id not in session.store.current_includes()


def test_cancel_an_update_keeps_the_model_and_the_drawing(qtbot, base_file):
    window = open_window(qtbot, base_file, kind="nn", parameters=SLOW_NN)
    session = window.session
    try:
        predictions_for(qtbot, window, circle())
        model_before = session.model
        with qtbot.waitSignal(session.update_progress, timeout=30000):
            window.correct("🐟")
        assert window.cancel_button.isVisible() and window.progress.isVisible()
        with qtbot.waitSignal(session.update_cancelled, timeout=30000):
            window.cancel_button.click()
        assert session.model is model_before
        assert not window.progress.isVisible()
        assert [e.label for e in session.store.pending_examples()] == ["🐟"]
    finally:
        window.close()


def test_ui_thread_stays_responsive_and_usable_during_an_update(qtbot, base_file):
    window = open_window(qtbot, base_file, kind="nn", parameters=SLOW_NN)
    session = window.session
    try:
        predictions_for(qtbot, window, zigzag())
        ticks = []
        timer = QTimer()
        timer.setInterval(10)
        timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
        timer.start()
        # A correction is committed to disk (fsync) on the UI thread by design, before the
        # app says it is kept; on a busy disk that alone can take 100 ms. That is the store's
        # cost, not the update's: the gaps measured below leave out the commits' own time.
        commits, add_example = [], session.store.add_example

        def timed_add_example(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return add_example(*args, **kwargs)
            finally:
                commits.append((t0, time.perf_counter()))

        session.store.add_example = timed_add_example
        events, running = [], []
        session.update_progress.connect(events.append)
        session.lane.started.connect(
            lambda job: job.name == "Update" and running.append(time.perf_counter()))
        window.correct("🦀")  # new: teaching starts
        for _ in range(DRAWINGS_NEEDED - 1):
            draw(window.canvas, zigzag())
            window.add_teaching_drawing()
        assert session.updating()
        # While it learns: draw, get suggestions from the current model, correct again.
        during = predictions_for(qtbot, window, circle())
        assert len(during) == 5 and session.updating()
        window.correct("🐟")  # queued for the next update
        with qtbot.waitSignal(session.update_finished, timeout=60000) as first:
            pass
        assert "crab" in first.args[0]
        started, ended = running[0], time.perf_counter()
        ran = ended - started
        timer.stop()
        pairs = [(a, b) for a, b in zip(ticks, ticks[1:]) if a >= started]
        gaps = [b - a for a, b in pairs if not any(c0 < b and a < c1 for c0, c1 in commits)]
        print(f"update ran {ran:.2f} s; {len(gaps)} timer gaps, longest {max(gaps) * 1000:.0f} ms; "
              f"{len(commits)} commits, longest {max(c1 - c0 for c0, c1 in commits) * 1000:.0f} ms")
        assert ran > 0.3 and len(gaps) > 10, "the update was too short to measure anything"
        assert max(gaps) < 0.1, f"the UI thread was blocked for {max(gaps) * 1000:.0f} ms"
        assert any(e.kind == "epoch_end" and e.loss is not None for e in events)
        # The correction made during the update is learned by the next one.
        qtbot.waitUntil(lambda: not session.updating(), timeout=60000)
        assert "🐟" in session.store.counts() and session.store.pending_examples() == []
    finally:
        window.close()


def test_export_to_a_folder_that_cannot_be_written_says_so(qtbot, window, tmp_path):
    afile = tmp_path / "not-a-folder"
    afile.write_text("x")
    targets = [tmp_path / "missing" / "model.mlmodel", afile / "model.mlmodel"]
    if os.path.isdir("/proc/self") and os.access("/proc", os.R_OK):
        targets.append(Path("/proc/model.mlmodel"))  # not writable, even by root
    for target in targets:
        window.dialogs.errors.clear()
        window.dialogs.export_path = target
        window.export_action.trigger()
        title, message = window.dialogs.errors[-1]
        assert title == "Cannot export there" and str(target.parent) in message
        assert all(job.name != "Export" for job in window.session.lane.jobs())
        assert not target.exists()


def test_export_writes_an_mlmodel(qtbot, window, tmp_path):
    pytest.importorskip("emojisketch.coreml.export")
    window.dialogs.export_path = tmp_path / "mine.mlmodel"
    with qtbot.waitSignal(window.session.export_finished, timeout=60000) as done:
        window.export_action.trigger()
    assert (tmp_path / "mine.mlmodel").stat().st_size > 1000
    assert str(done.args[0]).endswith("mine.mlmodel")
    assert window.dialogs.errors == []


def test_changing_the_classifier_kind_converts_the_model(qtbot, window):
    session = window.session
    predictions_for(qtbot, window, circle())
    with qtbot.waitSignal(session.update_finished, timeout=30000):
        window.correct("🐟")
    new = AppSettings(kind="nn", parameters={})
    with qtbot.waitSignal(session.model_ready, timeout=30000):
        session.apply_settings(new)
    assert session.model.kind == "nn"
    assert AppSettings.load().kind == "nn"  # kept in QSettings
    assert session.store.pending_examples() == []


def test_before_torch_is_imported_predictions_ignore_the_precision(qtbot, window, monkeypatch):
    # The first seconds, before the worker has imported torch: a model layer without
    # ``with_inference`` predicts under torch autocast at a lower precision, which must not
    # make the UI thread import torch (it would freeze for seconds); float32 until then.
    from emojisketch.app import session as session_module

    session = window.session
    exact = predictions_for(qtbot, window, zigzag())
    monkeypatch.setattr(session_module._Torch, "ready", False)

    def no_torch(*args, **kwargs):
        raise AssertionError("torch used on the UI thread before the worker imported it")

    class Hookless:  # the model, less its with_inference
        def __init__(self, model):
            self.model = model

        def predict(self, drawing, top=5):
            return self.model.predict(drawing, top=top)

    monkeypatch.setattr(session, "_autocast", no_torch)
    monkeypatch.setattr(session, "model", Hookless(session.model))
    session.settings.precision = "bfloat16"
    assert not session.torch_ready() and not session.inference_ready()
    assert window.predict() == exact
    monkeypatch.setattr(session_module._Torch, "ready", True)
    assert session.inference_ready()
    with pytest.raises(AssertionError, match="UI thread"):
        window.predict()  # once ready, autocast applies (this test's stub says so)


def test_the_worker_moves_the_model_to_the_chosen_precision(qtbot, window, monkeypatch):
    import threading

    session = window.session
    exact = predictions_for(qtbot, window, zigzag())
    threads = []
    real = session.model.with_inference

    def spy(**kwargs):
        threads.append(threading.current_thread())
        return real(**kwargs)

    monkeypatch.setattr(session.model, "with_inference", spy)
    session.settings.precision = "bfloat16"
    assert not session.inference_ready()
    assert window.predict() == exact  # float32 on the CPU while the worker makes it
    qtbot.waitUntil(session.inference_ready, timeout=30000)
    assert threads and threading.main_thread() not in threads
    lower = window.predict()
    assert [label for label, _ in lower[:3]] == [label for label, _ in exact[:3]]
    assert len(threads) == 1  # made once, then reused


def test_a_device_that_cannot_be_set_up_falls_back_to_the_cpu_with_one_warning(qtbot, window):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    session = window.session
    exact = predictions_for(qtbot, window, zigzag())
    warnings = []
    session.warning.connect(warnings.append)
    session.settings.device = "cuda"
    assert window.predict() == exact
    qtbot.waitUntil(lambda: bool(warnings), timeout=30000)
    assert session.settings.device == "cpu" and session.inference_ready()
    assert "CUDA" in warnings[0]
    assert window.predict() == exact
    assert len(warnings) == 1


@pytest.mark.parametrize("precision", ["float16", "bfloat16"])
def test_lower_precision_inference_gives_the_same_ranking(qtbot, window, precision):
    session = window.session
    exact = predictions_for(qtbot, window, zigzag())
    session.settings.precision = precision
    warnings = []
    session.warning.connect(warnings.append)
    window.predict()  # asks the worker for the model at that precision
    qtbot.waitUntil(lambda: session.inference_ready() or bool(warnings), timeout=30000)
    lower = window.predict()
    assert [label for label, _ in lower[:3]] == [label for label, _ in exact[:3]]
    assert all(abs(p - q) < 0.02 for (_, p), (_, q) in zip(lower, exact))
    # Either it ran at that precision, or it said once that it could not and fell back.
    assert session.settings.precision == precision or len(warnings) == 1


def test_keyboard_shortcuts_undo_clear_and_pick(qtbot, window):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    session = window.session
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    predictions_for(qtbot, window, zigzag())
    QTest.keyClick(window.canvas, Qt.Key_Z, Qt.ControlModifier)  # undo a stroke
    assert window.canvas.stroke_count() == 1
    QTest.keyClick(window.canvas, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)  # redo
    assert window.canvas.stroke_count() == 2
    QTest.keyClick(window.canvas, Qt.Key_Escape)  # clear
    assert window.canvas.is_empty()
    predictions = predictions_for(qtbot, window, zigzag())
    with qtbot.waitSignal(session.update_finished, timeout=30000):
        QTest.keyClick(window.canvas, Qt.Key_2)  # the second suggestion
    assert session.store.counts() == {predictions[1][0]: 1}
