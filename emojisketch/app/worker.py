"""The one background lane: a single worker thread that runs every job that loads, updates,
saves or exports a model, one after another.

Like Anki's task manager, there is exactly one lane, so two jobs never write the model at
once and their order is the order they were submitted. Like napari's thread workers, a job's
exception never escapes the thread: it becomes an ``errored`` signal with a message fit for
the user (an :class:`~emojisketch.errors.EmojisketchError`'s own text), and a
:class:`~emojisketch.errors.Cancelled` becomes ``cancelled``. Signals cross to the UI thread
queued, so slots there run on the UI thread.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

from ..errors import Cancelled, EmojisketchError

log = logging.getLogger(__name__)


@dataclass
class Job:
    """Work for the lane. ``fn(report)`` runs on the worker thread and returns the result;
    ``report(payload)`` sends progress to the UI. ``cancel`` (thread-safe) asks it to stop."""

    name: str
    fn: Callable[[Callable[[Any], None]], Any]
    cancel: Callable[[], None] | None = None
    id: int = field(default_factory=itertools.count(1).__next__)
    cancel_requested: bool = False


class _Worker(QObject):
    started = Signal(object)  # job
    progress = Signal(object, object)  # job, payload
    finished = Signal(object, object)  # job, result
    cancelled = Signal(object)  # job
    errored = Signal(object, str)  # job, message

    @Slot(object)
    def run(self, job: Job) -> None:
        if job.cancel_requested:  # cancelled while it waited in the queue
            self.cancelled.emit(job)
            return
        self.started.emit(job)
        try:
            result = job.fn(lambda payload: self.progress.emit(job, payload))
        except Cancelled:
            self.cancelled.emit(job)
        except EmojisketchError as exc:
            self.errored.emit(job, str(exc))
        except MemoryError:
            self.errored.emit(job, f"{job.name} ran out of memory.")
        except Exception as exc:  # a bug: keep the app alive, say what happened
            log.error("job %s failed:\n%s", job.name, traceback.format_exc())
            self.errored.emit(job, f"{job.name} failed unexpectedly: {type(exc).__name__}: {exc}")
        else:
            self.finished.emit(job, result)


class Lane(QObject):
    """Owns the worker thread. ``submit`` from the UI thread; jobs run in order."""

    started = Signal(object)
    progress = Signal(object, object)
    finished = Signal(object, object)
    cancelled = Signal(object)
    errored = Signal(object, str)
    _submit = Signal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("emojisketch-worker")
        self._worker = _Worker()
        self._worker.moveToThread(self._thread)
        self._submit.connect(self._worker.run)
        for name in ("started", "progress", "finished", "cancelled", "errored"):
            getattr(self._worker, name).connect(getattr(self, name))
        self.started.connect(self._on_started)
        for sig in (self.finished, self.cancelled, self.errored):
            sig.connect(self._on_done)
        self._lock = threading.Lock()
        self._queued: list[Job] = []
        self.current: Job | None = None
        self._thread.start()

    def submit(self, job: Job) -> Job:
        with self._lock:
            self._queued.append(job)
        self._submit.emit(job)
        return job

    def busy(self) -> bool:
        return self.current is not None or bool(self._queued)

    def jobs(self) -> list[Job]:
        """The running job (if any) then the queued ones."""
        with self._lock:
            return ([self.current] if self.current else []) + list(self._queued)

    def cancel(self, job: Job | None = None) -> None:
        """Ask ``job`` (default: the running one) to stop; thread-safe, returns at once."""
        job = job or self.current
        if job is None:
            return
        job.cancel_requested = True
        if job.cancel is not None:
            job.cancel()

    def shutdown(self, timeout_s: float = 10.0) -> bool:
        """Cancel everything, stop the thread, wait for it; True if it stopped in time."""
        for job in self.jobs():
            self.cancel(job)
        self._thread.quit()
        deadline = time.monotonic() + timeout_s
        stopped = self._thread.wait(int(timeout_s * 1000))
        if not stopped:
            log.warning("worker did not stop within %.1f s", timeout_s)
        return stopped and time.monotonic() <= deadline + 1

    def _on_started(self, job: Job) -> None:
        with self._lock:
            if job in self._queued:
                self._queued.remove(job)
            self.current = job

    def _on_done(self, job: Job, *_rest) -> None:
        with self._lock:
            if job in self._queued:
                self._queued.remove(job)
            if self.current is job:
                self.current = None
