"""The app's widgets on their own: canvas, emoji art, suggestions, picker, My emoji, worker."""

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from emojisketch import ink
from emojisketch.app.canvas import Canvas
from emojisketch.app.emoji_art import emoji_pixmap
from emojisketch.app.my_emoji import MyEmojiPanel, drawing_pixmap
from emojisketch.app.picker import EmojiPicker
from emojisketch.app.suggestions import SuggestionBar
from emojisketch.app.worker import Job, Lane
from emojisketch.errors import Cancelled, StoreError

from app_helpers import circle, draw, zigzag


@pytest.fixture
def canvas(qtbot):
    c = Canvas(settle_ms=50)
    c.resize(300, 300)
    qtbot.addWidget(c)
    c.show()
    return c


def test_mouse_strokes_become_a_drawing_and_an_image(canvas):
    draw(canvas, zigzag())
    drawing = canvas.drawing()
    assert len(drawing.strokes) == 2
    assert drawing.strokes[0].points[0].tolist() == [60, 80]
    assert drawing.strokes[0].t is not None and drawing.strokes[0].pressure is not None
    image = ink.to_image(drawing)
    assert image.shape == (28, 28) and image.max() > 0.5


def test_undo_redo_and_clear(canvas):
    assert canvas.drawing() is None
    draw(canvas, zigzag())
    canvas.undo()
    assert canvas.stroke_count() == 1
    canvas.redo()
    assert canvas.stroke_count() == 2
    canvas.clear()
    assert canvas.is_empty()
    canvas.undo()  # Clear can be taken back
    assert canvas.stroke_count() == 2
    QTest.keyClick(canvas, Qt.Key_Z, Qt.ControlModifier)  # no menu here: the window binds keys
    canvas.clear(undoable=False)
    assert not canvas.can_undo() and canvas.is_empty()


def test_settled_fires_after_the_pause_and_a_new_stroke_cancels_it(canvas, qtbot):
    fired = []
    canvas.settled.connect(lambda: fired.append(1))
    draw(canvas, [[(10, 10), (50, 50)]])
    QTest.mousePress(canvas, Qt.LeftButton, Qt.NoModifier, canvas.rect().center())
    qtbot.wait(120)  # longer than settle_ms, but the pen is down: no prediction
    assert fired == []
    QTest.mouseRelease(canvas, Qt.LeftButton, Qt.NoModifier, canvas.rect().center())
    qtbot.waitUntil(lambda: fired == [1], timeout=1000)


def test_add_stroke_is_the_same_path_as_the_mouse(canvas):
    canvas.add_stroke([(0, 0), (10, 5), (20, 0)], pressures=[0.2, 0.9, 0.4])
    s = canvas.drawing().strokes[0]
    assert s.points.tolist() == [[0, 0], [10, 5], [20, 0]]
    assert s.pressure.tolist() == [0.2, 0.9, 0.4]
    assert canvas.grab().toImage().pixelColor(10, 5).lightness() < 128  # ink on screen


def _opaque_fraction(pixmap):
    image = pixmap.toImage()
    alphas = [image.pixelColor(x, y).alpha() for x in range(0, image.width(), 2)
              for y in range(0, image.height(), 2)]
    return np.mean(np.array(alphas) > 0)


def test_emoji_art_renders_openmoji_pictures_not_text(qtbot):
    apple = emoji_pixmap("🍎", 64)
    assert apple.width() == 64
    assert 0.2 < _opaque_fraction(apple) < 0.95  # a picture, transparent around it
    red = apple.toImage().pixelColor(32, 40)
    assert red.red() > 150 and red.green() < 150  # OpenMoji's red apple
    unknown = emoji_pixmap("xyz", 64)  # no art: a tile, never an empty box of text
    assert _opaque_fraction(unknown) > 0.9


def test_suggestions_show_pictures_and_report_the_click(qtbot):
    bar = SuggestionBar()
    qtbot.addWidget(bar)
    bar.set_predictions([("🍎", 0.8), ("🐱", 0.15), ("☀️", 0.05)])
    assert bar.labels() == ["🍎", "🐱", "☀️"]
    assert bar.buttons[0].text() == "80%" and not bar.buttons[0].icon().isNull()
    assert not bar.buttons[3].isEnabled()
    with qtbot.waitSignal(bar.accepted) as blocker:
        bar.buttons[1].click()
    assert blocker.args == ["🐱"]
    with qtbot.waitSignal(bar.none_of_these):
        bar.none_button.click()
    bar.clear()
    assert bar.labels() == [] and not bar.none_button.isEnabled()


def test_picker_searches_names_and_keywords(qtbot):
    picker = EmojiPicker(preferred=["🐟"])
    qtbot.addWidget(picker)
    assert picker.results()[0] == "🐟"  # what the model knows comes first
    picker.search("unicorn")
    assert picker.results()[0] == "🦄"
    picker.search("zzqxv")
    assert picker.results() == [] and not picker.ok_button.isEnabled()
    picker.search("apple")
    with qtbot.waitSignal(picker.picked) as blocker:
        QTest.keyClick(picker.search_edit, Qt.Key_Return)
    assert blocker.args == ["🍎"] and picker.chosen == "🍎"


class _Example:
    def __init__(self, id, strokes):
        self.id, self.drawing, self.created = id, ink.Drawing.from_points(strokes), None


def test_my_emoji_lists_counts_thumbnails_and_asks_to_delete(qtbot):
    panel = MyEmojiPanel()
    qtbot.addWidget(panel)
    examples = {"🦄": [_Example(1, zigzag()), _Example(2, circle())], "🍎": [_Example(3, circle())]}
    panel.refresh({"🦄": 2, "🍎": 1}, lambda label: examples[label])
    assert panel.labels.count() == 2
    assert "unicorn — 2 drawings" in panel.labels.item(0).text()
    assert panel.thumbs.count() == 2
    panel.thumbs.item(1).setSelected(True)
    with qtbot.waitSignal(panel.delete_requested) as blocker:
        panel.delete_button.click()
    assert blocker.args == [2]
    with qtbot.waitSignal(panel.reset_requested):
        panel.reset_button.click()
    thumb = drawing_pixmap(examples["🦄"][0].drawing).toImage()
    dark = sum(thumb.pixelColor(x, y).lightness() < 128 for x in range(72) for y in range(72))
    assert dark > 20


def test_lane_runs_jobs_in_order_and_turns_exceptions_into_signals(qtbot):
    lane = Lane()
    try:
        done, errors, cancelled = [], [], []
        lane.finished.connect(lambda job, result: done.append(result))
        lane.errored.connect(lambda job, msg: errors.append(msg))
        lane.cancelled.connect(lambda job: cancelled.append(job.name))

        def fail_user(report):
            raise StoreError("the disk is full")

        def fail_bug(report):
            raise KeyError("oops")

        def stop(report):
            raise Cancelled("stopped")

        for job in (Job("a", lambda r: 1), Job("b", fail_user), Job("c", fail_bug),
                    Job("d", stop), Job("e", lambda r: 2)):
            lane.submit(job)
        qtbot.waitUntil(lambda: len(done) == 2 and len(errors) == 2 and bool(cancelled), timeout=5000)
        assert done == [1, 2]
        assert errors[0] == "the disk is full"
        assert "KeyError" in errors[1]
        assert cancelled == ["d"] and not lane.busy()
    finally:
        assert lane.shutdown()


def test_settings_round_trip_through_qsettings_and_the_dialog(qtbot, emojisketch_home):
    from emojisketch.app.settings import AppSettings, SettingsDialog

    specs = {"epochs": {"default": 10, "type": "int", "min": 1, "max": 100},
             "learning_rate": {"default": 0.05, "type": "float", "min": 1e-5, "max": 1.0},
             "optimizer": {"default": "adam", "type": "choice", "allowed": ["sgd", "adam"]}}
    settings = AppSettings(kind="nn", parameters={"nn": {"epochs": 20}})
    dialog = SettingsDialog(settings, specs, "nn")
    qtbot.addWidget(dialog)
    assert dialog.fields["epochs"].value() == 20
    dialog.fields["learning_rate"].setValue(0.01)
    dialog.fields["optimizer"].setCurrentIndex(dialog.fields["optimizer"].findData("sgd"))
    dialog.precision.setCurrentIndex(dialog.precision.findData("bfloat16"))
    result = dialog.result_settings()
    assert result.parameters["nn"] == {"epochs": 20, "learning_rate": 0.01, "optimizer": "sgd"}
    result.save()
    assert (emojisketch_home / "settings.ini").exists()
    loaded = AppSettings.load()
    assert loaded.kind == "nn" and loaded.precision == "bfloat16"
    # Values come back from the ini file as text; the model's specs cast and clamp them.
    assert loaded.update_parameters("nn", specs) == {"epochs": 20, "learning_rate": 0.01,
                                                      "optimizer": "sgd"}
    loaded.parameters["nn"]["epochs"] = "500"
    assert loaded.update_parameters("nn", specs)["epochs"] == 100
    assert loaded.update_parameters("knn", {"k": {"default": 3, "type": "int"}}) == {}


def _tablet(canvas, kind, x, y, pressure):
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QPointingDevice, QTabletEvent
    from PySide6.QtWidgets import QApplication

    pos = QPointF(x, y)
    event = QTabletEvent(kind, QPointingDevice.primaryPointingDevice(), pos,
                         QPointF(canvas.mapToGlobal(pos)), pressure, 0.0, 0.0, 0.0, 0.0, 0.0,
                         Qt.NoModifier, Qt.LeftButton,
                         Qt.NoButton if kind == QEvent.TabletRelease else Qt.LeftButton)
    QApplication.sendEvent(canvas, event)


def test_pen_pressure_changes_the_line_on_screen_not_the_model_input(canvas):
    from PySide6.QtCore import QEvent

    def pen_stroke(pressure, y):
        _tablet(canvas, QEvent.TabletPress, 40, y, pressure)
        for x in range(50, 260, 10):
            _tablet(canvas, QEvent.TabletMove, x, y, pressure)
        _tablet(canvas, QEvent.TabletRelease, 260, y, pressure)

    def ink_height(y):  # rows of ink across the line at x = 150
        image = canvas.grab().toImage()
        return sum(image.pixelColor(150, r).lightness() < 128 for r in range(y - 20, y + 20))

    pen_stroke(0.1, 80)
    pen_stroke(1.0, 200)
    light, heavy = canvas.drawing().strokes
    assert light.pressure.max() == pytest.approx(0.1) and heavy.pressure.min() == pytest.approx(1.0)
    assert ink_height(200) > ink_height(80) + 2  # a firmer press draws a thicker line
    same = ink.Drawing(tuple(ink.Stroke(s.points) for s in canvas.drawing().strokes))
    assert np.array_equal(ink.to_image(canvas.drawing()), ink.to_image(same))


def test_the_gpu_is_offered_only_when_the_worker_found_one_and_the_model_can_move():
    from emojisketch.app.settings import devices

    class Movable:
        def with_inference(self, device="cpu", precision="float32"):
            return self

    assert devices(Movable(), cuda=False) == [("cpu", "CPU")]
    assert devices(Movable(), cuda=True) == [("cpu", "CPU"), ("cuda", "CUDA GPU")]
    assert devices(object(), cuda=True) == [("cpu", "CPU")]  # a model layer that cannot move
