"""`emojisketch app` from the command line (offscreen): startup measurement, demo drawing,
screenshot; and the About box's credits."""

import subprocess
import sys

from emojisketch.app.main import demo_strokes, process_age
from emojisketch.app.dialogs import CREDITS

from app_helpers import make_base


def test_demo_strokes_fit_the_canvas():
    strokes = demo_strokes("sun", 400, 300)
    xs = [x for s in strokes for x, _ in s]
    ys = [y for s in strokes for _, y in s]
    assert len(strokes) == 9
    assert 0 < min(xs) < max(xs) < 400 and 0 < min(ys) < max(ys) < 300


def test_process_age_is_the_time_since_start():
    assert 0 < process_age() < 3600


def test_credits_name_openmoji_and_quickdraw():
    assert "Emoji art: OpenMoji – the open-source emoji and icon project, CC BY-SA 4.0" in CREDITS
    assert "Quick, Draw! dataset by Google Creative Lab, CC BY 4.0" in CREDITS


def test_app_command_measures_startup_and_saves_a_screenshot(tmp_path):
    base = make_base(tmp_path / "base.safetensors")
    shot = tmp_path / "window.png"
    result = subprocess.run(
        [sys.executable, "-m", "emojisketch", "app", "--base", str(base), "--home",
         str(tmp_path / "home"), "--measure-startup", "--demo-drawing", "sun",
         "--screenshot", str(shot)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "startup: window shown" in result.stdout and "model loaded" in result.stdout
    assert shot.stat().st_size > 10000


def test_app_command_fails_clearly_without_a_base_model(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "emojisketch", "app", "--base", str(tmp_path / "none.safetensors"),
         "--measure-startup"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "no model file" in result.stderr


def test_qt_bindings_keep_none_alive_through_many_calls():
    """PySide6 6.12.0 on Python 3.11 drops a reference to None on every void call, so a
    drawing session dies after a few thousand repaints (pyproject pins <6.12)."""
    code = ("import os, sys; os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
            "from PySide6.QtWidgets import QApplication, QWidget\n"
            "app = QApplication([]); w = QWidget(); before = sys.getrefcount(None)\n"
            "for _ in range(20000): w.update()\n"
            "print(sys.getrefcount(None) - before)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert abs(int(result.stdout.strip())) < 100
