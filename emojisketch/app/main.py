"""``emojisketch app``: start the drawing app.

The window is shown first; the model loads on the worker thread meanwhile, so the app is
usable as soon as both are there. With the compiled kernels the model predicts without torch,
which the worker imports next (for updates and export), while the user draws. Options for demos and checks:

* ``--measure-startup``: print the seconds from process start to the first shown window and
  to the model being loaded, then quit.
* ``--demo-drawing sun`` (or ``FILE.ndjson[:N]``, a Quick, Draw! drawing): draw it on the
  canvas through the canvas's own API once the model is loaded; with ``--demo-teach EMOJI``,
  first teach three copies of it as that emoji and wait for the update.
* ``--screenshot PNG``: save a picture of the window once the demo drawing's suggestions are
  shown (or once the model is ready), then quit. ``--screen`` grabs the window's pixels from
  the screen instead (under a real X server such as Xvfb). With ``--wait-for-drawing`` it
  prints where the canvas is (``canvas: X Y W H``) and waits for real input, e.g. xdotool.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

_IMPORTED = time.monotonic()


def add_arguments(parser) -> None:
    parser.add_argument("--base", metavar="FILE", default=None,
                        help="base model file (default: the shipped models/base.safetensors)")
    parser.add_argument("--home", metavar="DIR", default=None,
                        help="folder for your drawings and models (default: $EMOJISKETCH_HOME "
                             "or the user data folder)")
    parser.add_argument("--measure-startup", action="store_true",
                        help="print how long the window and the model took to appear, then quit")
    parser.add_argument("--demo-drawing", metavar="SPEC", default=None,
                        help="draw 'sun', or a drawing from a Quick, Draw! FILE.ndjson[:N]")
    parser.add_argument("--demo-teach", metavar="EMOJI", default=None,
                        help="with --demo-drawing: first teach three copies of it as EMOJI")
    parser.add_argument("--screenshot", metavar="PNG", default=None,
                        help="save a screenshot once the suggestions are shown, then quit")
    parser.add_argument("--screen", action="store_true",
                        help="with --screenshot: grab the window's pixels from the screen (under "
                             "a real X server such as Xvfb) instead of re-rendering the widget")
    parser.add_argument("--wait-for-drawing", action="store_true",
                        help="with --screenshot: print where the canvas is on the screen, then "
                             "wait for someone (or xdotool) to draw before the screenshot")


def process_age() -> float:
    """Seconds since this process started (from /proc on Linux; else since this module was
    imported, which misses the interpreter's own start)."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        with open("/proc/self/stat") as f:
            start = int(f.read().rsplit(")", 1)[1].split()[19]) / ticks
        with open("/proc/uptime") as f:
            return float(f.read().split()[0]) - start
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _IMPORTED


def demo_strokes(spec: str, width: float, height: float) -> list[list[tuple[float, float]]]:
    """Strokes for ``spec`` in canvas coordinates, fitted to the middle of the canvas."""
    if spec == "sun":
        strokes = [[(math.cos(a / 24 * 2 * math.pi) * 60, math.sin(a / 24 * 2 * math.pi) * 60)
                    for a in range(25)]]
        for i in range(8):
            a = i / 8 * 2 * math.pi
            strokes.append([(math.cos(a) * 80, math.sin(a) * 80),
                            (math.cos(a) * 120, math.sin(a) * 120)])
    else:
        from ..quickdraw import read

        path, _, index = spec.partition(":")
        if not Path(path).exists():
            raise SystemExit(f"emojisketch app: no demo drawing file {path}")
        records = read(path)
        for _ in range(int(index or 0)):
            next(records)
        drawing = next(records).drawing
        strokes = [s.points.tolist() for s in drawing.strokes]
    xs = [x for s in strokes for x, _ in s]
    ys = [y for s in strokes for _, y in s]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1e-6)
    scale = 0.6 * min(width, height) / span
    ox = (width - (max(xs) - min(xs)) * scale) / 2 - min(xs) * scale
    oy = (height - (max(ys) - min(ys)) * scale) / 2 - min(ys) * scale
    return [[(ox + x * scale, oy + y * scale) for x, y in s] for s in strokes]


def display_problem(environ=os.environ, platform: str = sys.platform) -> str | None:
    """Why no window can open, where that is plain before Qt tries: Qt's own message then
    says only that no platform plugin loaded and that reinstalling may help, which it won't."""
    if not platform.startswith("linux") or environ.get("QT_QPA_PLATFORM"):
        return None
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    return ("no screen to open a window on (neither DISPLAY nor WAYLAND_DISPLAY is set). Start "
            "it in a desktop session, under a virtual screen (`xvfb-run bash scripts/app`), or "
            "with QT_QPA_PLATFORM=offscreen for a window no one sees (with --screenshot, say)")


def run(args) -> int:
    problem = display_problem()
    if problem:
        print(f"emojisketch app: {problem}", file=sys.stderr)
        return 2
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        # headless, Qt warns of window hints it cannot pass on; elsewhere its platform
        # messages (no display, a missing xcb library) are what a user needs to see
        os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")
    if args.home:  # the store and the settings both follow EMOJISKETCH_HOME
        os.environ["EMOJISKETCH_HOME"] = str(Path(args.home).expanduser())
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from .session import Session
    from .window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("EmojiSketch")
    app.setOrganizationName("emojisketch")
    session = Session(base_path=args.base)
    window = MainWindow(session)
    window.show()
    shown_at = process_age()
    times: dict[str, float] = {"window": shown_at}
    result = {"code": 0}

    def finish(code: int = 0) -> None:
        result["code"] = code
        window.close()
        app.quit()

    def screenshot() -> None:
        app.processEvents()
        if args.screen:
            # What the X server shows in the window's place (not a re-render of the widget).
            g = window.frameGeometry()
            picture = window.screen().grabWindow(0, g.x(), g.y(), g.width(), g.height())
        else:
            picture = window.grab()
        Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
        ok = picture.save(args.screenshot)
        print(f"screenshot: {args.screenshot} ({picture.width()}x{picture.height()})"
              + ("" if ok else " NOT SAVED"), flush=True)
        finish(0 if ok else 1)

    def model_ready(_model) -> None:
        if "model" in times:
            return
        times["model"] = process_age()
        if args.measure_startup:
            print(f"startup: window shown {times['window']:.2f} s, model loaded "
                  f"{times['model']:.2f} s after the process started "
                  f"(usable at {max(times.values()):.2f} s)", flush=True)
            if not args.demo_drawing and not args.screenshot:
                QTimer.singleShot(0, finish)
                return
        if args.demo_drawing and args.demo_teach:
            teach_demo()
            session.update_finished.connect(lambda _summary: session.updating() or draw_demo())
        elif args.demo_drawing:
            draw_demo()
        elif args.screenshot and args.wait_for_drawing:
            window.predictions_shown.connect(lambda _p: QTimer.singleShot(300, screenshot))
            announce_canvas()
        elif args.screenshot:
            QTimer.singleShot(300, screenshot)

    def draw_demo() -> None:
        if "demo" in times:
            return
        if args.screenshot:
            window.predictions_shown.connect(lambda _p: QTimer.singleShot(300, screenshot))
        times["demo"] = process_age()
        canvas = window.canvas
        for stroke in demo_strokes(args.demo_drawing, canvas.width(), canvas.height()):
            canvas.add_stroke(stroke)

    def teach_demo() -> None:
        """Teach the demo drawing as --demo-teach, as a person would: three slightly
        different copies, through the same canvas and teaching calls as the mouse."""
        canvas = window.canvas
        for i in range(3):
            strokes = demo_strokes(args.demo_drawing, canvas.width() * (0.9 + 0.06 * i),
                                   canvas.height() * (1.05 - 0.06 * i))
            for stroke in strokes:
                canvas.add_stroke([(x + 9 * i, y - 6 * i) for x, y in stroke])
            window.correct(args.demo_teach)  # while teaching: the next of its drawings

    def announce_canvas() -> None:
        # After the warm-up: its imports hold the GIL, and X would merge the pointer's moves.
        if session.lane.busy():
            QTimer.singleShot(50, announce_canvas)
            return
        canvas = window.canvas
        corner = canvas.mapToGlobal(canvas.rect().topLeft())
        print(f"canvas: {corner.x()} {corner.y()} {canvas.width()} {canvas.height()}", flush=True)

    def failed(title: str, message: str) -> None:
        print(f"emojisketch app: {title}: {message}", file=sys.stderr, flush=True)
        if args.measure_startup or args.screenshot:
            if args.screenshot:
                QTimer.singleShot(300, screenshot)
            QTimer.singleShot(600, lambda: finish(1))

    session.model_ready.connect(model_ready)
    session.job_failed.connect(failed)
    try:
        session.start()
    except BaseException:
        session.shutdown()  # stop the worker thread before Qt tears down
        raise
    app.exec()
    return result["code"]
