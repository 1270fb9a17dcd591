"""`emojisketch app` from the command line (offscreen): startup measurement, demo drawing,
screenshot; and the About box's credits."""

import os
import subprocess
import sys

import pytest

from emojisketch.app.main import demo_strokes, display_problem, process_age
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


def test_without_a_screen_the_app_says_so_and_how_to_start_it():
    problem = display_problem({}, "linux")
    assert "neither DISPLAY nor WAYLAND_DISPLAY" in problem and "QT_QPA_PLATFORM=offscreen" in problem
    for env in ({"DISPLAY": ":0"}, {"WAYLAND_DISPLAY": "wayland-0"}, {"QT_QPA_PLATFORM": "offscreen"}):
        assert display_problem(env, "linux") is None
    assert display_problem({}, "darwin") is None and display_problem({}, "win32") is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check is Linux's (X11, Wayland)")
def test_the_app_command_without_a_screen_exits_with_that_message(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([sys.executable, "-m", "emojisketch", "app", "--home",
                             str(tmp_path / "home")], capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode == 2
    assert "emojisketch app: no screen to open a window on" in result.stderr
