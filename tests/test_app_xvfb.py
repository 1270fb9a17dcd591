"""The real app in a real X server (Xvfb): it starts, takes a drawing, shows suggestions, and
a screenshot of the screen shows it all.

Needs Xvfb (Debian: xvfb plus the xcb libraries Qt's xcb platform loads, see .ci/run);
skipped with the reason when it is missing. The xdotool variant draws with real X pointer
events and needs xdotool too.
"""

import os
import shutil
import subprocess
import sys
import time

import pytest
from PySide6.QtGui import QImage

from app_helpers import make_base

pytestmark = [
    pytest.mark.xvfb,
    pytest.mark.skipif(shutil.which("Xvfb") is None,
                       reason="Xvfb is not installed (apt-get install xvfb libxcb-icccm4 "
                              "libxcb-keysyms1 libxkbcommon-x11-0 ...; see .ci/run)"),
]

SCREEN = (1280, 800)


@pytest.fixture
def display():
    """A fresh Xvfb server; yields its DISPLAY string."""
    read, write = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24",
         "-nolisten", "tcp"], pass_fds=(write,), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as f:
        number = f.readline().strip()
    if not number:
        proc.kill()
        pytest.fail("Xvfb did not start")
    try:
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(10)


def app_env(display, home):
    env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb", EMOJISKETCH_HOME=str(home))
    env.pop("WAYLAND_DISPLAY", None)
    return env


def check_screenshot(path, min_size=(900, 600)):
    image = QImage(str(path))
    assert not image.isNull(), "the screenshot is not a readable PNG"
    assert image.width() >= min_size[0] and image.height() >= min_size[1]
    # Not blank: dark ink on the canvas, and colour (emoji art) somewhere in the bottom half.
    dark = colourful = 0
    for x in range(0, image.width(), 4):
        for y in range(0, image.height(), 4):
            c = image.pixelColor(x, y)
            dark += c.lightness() < 60
            colourful += c.hsvSaturation() > 120 and c.value() > 120 and y > image.height() // 2
    assert dark > 200, "no ink in the screenshot"
    assert colourful > 20, "no coloured emoji art in the screenshot"


def test_app_starts_under_xvfb_draws_and_takes_a_screenshot(display, tmp_path):
    base = make_base(tmp_path / "base.safetensors")
    shot = tmp_path / "screen.png"
    result = subprocess.run(
        [sys.executable, "-m", "emojisketch", "app", "--base", str(base), "--demo-drawing", "sun",
         "--screenshot", str(shot), "--screen", "--measure-startup"],
        env=app_env(display, tmp_path / "home"), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "startup: window shown" in result.stdout
    check_screenshot(shot)


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed")
def test_drawing_with_real_x_pointer_events(display, tmp_path):
    base = make_base(tmp_path / "base.safetensors")
    shot = tmp_path / "screen.png"
    env = app_env(display, tmp_path / "home")
    proc = subprocess.Popen(
        [sys.executable, "-m", "emojisketch", "app", "--base", str(base), "--wait-for-drawing",
         "--screenshot", str(shot), "--screen"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 60
        while not line.startswith("canvas:") and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, proc.stderr.read()[-3000:]
        x, y, w, h = map(int, line.split()[1:])
        cx, cy, r = x + w // 2, y + h // 2, min(w, h) // 4
        time.sleep(0.5)  # let the window settle before the pointer arrives
        xdo = ["xdotool", "mousemove", str(cx - r), str(cy - r), "mousedown", "1"]
        for i in range(1, 21):  # a square, corner to corner, with many small moves
            side, t = divmod(i - 1, 5)
            t = (t + 1) / 5
            px, py = [(cx - r + 2 * r * t, cy - r), (cx + r, cy - r + 2 * r * t),
                      (cx + r - 2 * r * t, cy + r), (cx - r, cy + r - 2 * r * t)][side]
            xdo += ["mousemove", str(int(px)), str(int(py)), "sleep", "0.02"]
        xdo += ["mouseup", "1"]
        subprocess.run(xdo, env=env, check=True, timeout=30)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-3000:]
    assert "screenshot:" in out
    check_screenshot(shot)
