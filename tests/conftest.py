"""Shared test setup: headless Qt, a fresh emojisketch folder per test, one torch thread.

QT_QPA_PLATFORM is set before anything can load Qt (pytest-qt creates the QApplication
lazily, at the first qtbot). Each test gets its own EMOJISKETCH_HOME, so no test reads or
writes the user's real drawings, models or settings. torch uses one thread: on the 2-core
machines this runs on, two threads slow down a hundredfold when anything else is busy.
"""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def emojisketch_home(tmp_path, monkeypatch):
    """A fresh, empty emojisketch folder for each test (settings, drawings, models)."""
    home = tmp_path / "emojisketch-home"
    monkeypatch.setenv("EMOJISKETCH_HOME", str(home))
    return home
