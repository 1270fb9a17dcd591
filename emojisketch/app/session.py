"""The app's state and the work behind the widgets: the store, the current model, and the one
background lane that loads, updates, saves, imports and exports models.

Widgets call these methods and listen to the signals; nothing here draws. The rules:

* A correction is stored at once, on the UI thread (``Store.add_example`` commits before it
  returns), so nothing is lost if the app closes; learning it happens later, in an update.
* Anything that makes or writes a model is a job on the lane (one worker thread, jobs in
  order). One update at a time: corrections made while it runs stay pending in the store and
  the next update takes them.
* The model is never changed in place. Predictions use the current one until an update
  finishes; then the new one (already saved through the store, on the worker) is swapped in.
* Deleting or undoing an example the model was built from makes the next update a rebuild:
  the base model plus every remaining example.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from .. import catalog
from ..ink import SIDE, Drawing
from .settings import AppSettings
from .worker import Job, Lane

PROGRESS_EVERY_S = 0.05  # at most ~20 progress signals a second reach the UI


class _Torch:
    """What the worker has found out about torch; the UI thread only reads it, so that it
    never waits seconds for torch's import (or for CUDA to answer)."""

    ready = False  # imported, with one thread
    cuda = False  # a CUDA GPU is usable (asked once, by the warm-up)


class Session(QObject):
    model_ready = Signal(object)  # a model was swapped in (load, update, reset, import, kind)
    examples_changed = Signal()
    update_started = Signal(object)  # {"examples": n, "rebuild": bool, "kind": str}, once the
    # worker has found something to learn
    update_progress = Signal(object)  # emojisketch.update.UpdateEvent
    update_finished = Signal(str)  # what changed, in words
    update_cancelled = Signal()
    update_failed = Signal(str)
    export_progress = Signal(object)  # whatever the exporter reports (fraction, text)
    export_finished = Signal(object)  # the written Path
    import_finished = Signal(object)  # the imported file's Path
    job_failed = Signal(str, str)  # title, message (load, export, import, reset...)
    warning = Signal(str)  # something the user should know (store repairs)

    def __init__(self, settings: AppSettings | None = None, base_path: str | os.PathLike | None = None,
                 home: str | os.PathLike | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.settings = settings or AppSettings.load()
        self.base_path = base_path
        self.home = home
        self.lane = Lane(self)
        self.lane.finished.connect(self._job_finished)
        self.lane.cancelled.connect(self._job_cancelled)
        self.lane.errored.connect(self._job_errored)
        self.lane.progress.connect(self._job_progress)
        self.store = None  # emojisketch.store.Store, opened by start()
        self.model = None  # the current UpdatableModel (None until loaded)
        self.update_job: Job | None = None
        self._held = False  # teaching a new emoji: wait for all its drawings
        self._wanted = False  # an update was asked for while one ran or updates were held
        self._handlers: dict[int, tuple] = {}  # job id -> (on_done, on_error)
        self._replacing = 0  # reset/kind/import jobs queued: updates wait for the new model
        self._warned = 0  # store warnings already shown
        self._inference = (None, None)  # (model id, device, precision) -> model to predict with
        self._preparing = None  # the key of the one the worker is making

    # ---- start and stop ------------------------------------------------------------------

    def start(self) -> None:
        """Open the store (fast, here) and load the model on the worker."""
        from ..store import Store

        self.store = Store(self.home)
        self._show_warnings()
        kind, base_path, store = self.settings.kind, self.base_path, self.store

        def load(report):
            from ..model import load_model

            model = store.load_model()
            if model is None:
                model = load_model(base_path, kind=kind)
            elif model.kind != kind:
                model = model.with_kind(kind)
            if not model.native:
                _torch_ready()  # predicting needs torch: import it here, not on the UI thread
            return model

        def loaded(model):
            self._swap(model)
            self._show_warnings()
            # torch is imported here, after the window can predict (with the compiled kernels)
            self._submit(Job("Warming up", lambda report: _warm_up(model)))
            self.request_update()  # drawings stored but not learned when the app last closed

        self._submit(Job("Loading the model", load), loaded,
                     lambda msg: self.job_failed.emit("The model could not be loaded", msg))

    def shutdown(self) -> None:
        self.lane.shutdown()
        if self.store is not None:
            self.store.close()

    # ---- predicting ----------------------------------------------------------------------

    def predict(self, drawing: Drawing, top: int = 5) -> list[tuple[str, float]]:
        """The current model's top emoji for the drawing (fast; runs on the calling thread)."""
        model = self._inference_model()
        if model is None:
            return []
        # A model that can move was made for the settings (or stands in until it is); one
        # that cannot runs under CPU autocast, once torch is there.
        if (hasattr(model, "with_inference") or self.settings.precision == "float32"
                or not _Torch.ready):
            return model.predict(drawing, top=top)
        try:
            with self._autocast():
                return model.predict(drawing, top=top)
        except (TypeError, RuntimeError) as exc:
            # The model layer could not run at this precision: say so once, go on in float32.
            self.settings.precision = "float32"
            self.warning.emit(f"Lower-precision inference is not available here ({exc}); "
                              "predicting in float32.")
            return model.predict(drawing, top=top)

    def inference_ready(self) -> bool:
        """Whether predictions run at the device and precision the settings name (for a model
        layer that can move, ``with_inference``: the worker prepares that model)."""
        s, model = self.settings, self.model
        if model is None or self._default_inference():
            return True
        if not hasattr(model, "with_inference"):
            return _Torch.ready
        return self._inference[0] == (id(model), s.device, s.precision)

    def _inference_model(self):
        """The model to predict with: the current one moved to the chosen device and precision
        (``with_inference``) once the worker has made it, since moving it to a GPU can take
        seconds; until then, or for a model layer without that hook, the model itself (float32
        on the CPU; the hookless one under CPU autocast)."""
        model, s = self.model, self.settings
        if model is None or not hasattr(model, "with_inference") or self._default_inference():
            return model
        key = (id(model), s.device, s.precision)
        if self._inference[0] == key:
            return self._inference[1]
        self._prepare_inference(model, key)
        return model

    def _default_inference(self) -> bool:
        return (self.settings.device, self.settings.precision) == ("cpu", "float32")

    def _prepare_inference(self, model, key) -> None:
        """Make the model to predict with on the worker; if it cannot be made, say so once and
        go back to float32 on the CPU."""
        if self._preparing == key:
            return
        self._preparing = key
        _, device, precision = key

        def run(report):
            _torch_ready()
            moved = model.with_inference(device=device, precision=precision)
            moved.embed(np.zeros((1, SIDE, SIDE), np.float32))  # builds its layers there, once
            return moved

        def done(moved):
            if self._preparing == key:
                self._inference, self._preparing = (key, moved), None

        def failed(message):
            if self._preparing != key:
                return
            self._preparing = None
            self.settings.device, self.settings.precision = "cpu", "float32"
            self.warning.emit(f"Predicting in float32 on the CPU: {device} at {precision} could "
                              f"not be set up ({message or 'cancelled'}).")

        self._submit(Job("Preparing inference", run), done, failed)

    def torch_ready(self) -> bool:
        """Whether the worker has imported torch (seconds after start). Until then predictions
        run in float32 on the CPU whatever the settings say: the compiled kernels need no
        torch, and the UI thread never imports it."""
        return _Torch.ready

    def cuda_available(self) -> bool:
        """Whether predictions can run on a CUDA GPU (False until the warm-up has asked)."""
        return _Torch.cuda

    def _autocast(self):
        """Core ML 3's lower-precision inference, thinly: torch autocast on the CPU."""
        import torch

        dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16}[self.settings.precision]
        return torch.autocast("cpu", dtype=dtype)

    # ---- teaching ------------------------------------------------------------------------

    def add_example(self, drawing: Drawing, label: str) -> int:
        """Store a taught drawing now; an update follows unless updates are held."""
        example_id = self.store.add_example(drawing, label)
        self.examples_changed.emit()
        self.request_update()
        return example_id

    def hold_updates(self, hold: bool) -> None:
        """While teaching a new emoji, wait for all its drawings before updating."""
        self._held = hold
        if not hold and self._wanted:
            self.request_update()

    def knows(self, label: str) -> bool:
        return self.model is not None and label in self.model.labels

    def undo_last_correction(self):
        """Forget the most recent example (returned, or None); the model follows at the next
        update (a rebuild if it had learned it)."""
        example = self.store.undo_last()
        if example is not None:
            self.examples_changed.emit()
            if self.store.needs_rebuild():
                self.request_update()
        return example

    def delete_example(self, example_id: int) -> bool:
        gone = self.store.delete_example(example_id)
        if gone:
            self.examples_changed.emit()
            if self.store.needs_rebuild():
                self.request_update()
        return gone

    # ---- updates -------------------------------------------------------------------------

    def updating(self) -> bool:
        return self.update_job is not None

    def request_update(self) -> None:
        """Start an update with the pending examples, unless one runs (it is then queued).

        What to learn is read from the store on the worker (reading every stored drawing
        can take a while), so this returns at once; ``update_started`` follows if there is
        anything to learn."""
        self._wanted = True
        if self.update_job is not None or self._held or self._replacing or self.model is None:
            return
        self._wanted = False
        start_model, kind, base_path = self.model, self.model.kind, self.base_path
        params = self.settings.update_parameters(kind, start_model.update_description()["parameters"])
        store = self.store
        job = Job("Update", None)

        def run(report):
            _torch_ready()
            from ..model import load_model
            from ..update import UpdateTask

            rebuild = store.needs_rebuild()
            examples = store.examples() if rebuild else store.pending_examples()
            if not examples and not rebuild:
                return None  # nothing new since the last update
            included = set() if rebuild else set(store.current_includes())
            includes = sorted(included | {e.id for e in examples})
            report({"examples": len(examples), "rebuild": rebuild, "kind": kind})
            start = load_model(base_path, kind=kind) if rebuild else start_model
            if not examples:  # every example was deleted: back to the base model
                store.reset(keep_examples=True)
                return start, examples, rebuild
            task = UpdateTask(start, examples, parameters=params)
            job.cancel = task.cancel
            if job.cancel_requested:
                task.cancel()
            last = [0.0]

            def progress(event):
                now = time.monotonic()
                if event.kind != "minibatch_end" or now - last[0] >= PROGRESS_EVERY_S:
                    last[0] = now
                    report(event)

            began = time.monotonic()
            new = task.run(progress=progress)
            store.save_model(new, includes)
            new.meta["update_seconds"] = round(time.monotonic() - began, 3)
            return new, examples, rebuild

        job.fn = run
        self.update_job = job
        self._submit(job, lambda result: self._update_done(start_model, result),
                     self._update_error)

    def cancel_update(self) -> None:
        if self.update_job is not None:
            self._wanted = False
            self.lane.cancel(self.update_job)

    def _update_done(self, before, result) -> None:
        self.update_job = None
        if result is None:  # there was nothing to learn
            if self._wanted:
                self.request_update()
            return
        new, examples, rebuild = result
        self._swap(new)
        self.update_finished.emit(describe_update(before, new, examples, rebuild))
        self.request_update()  # corrections made meanwhile (the worker checks; cheap here)

    def _update_error(self, message: str | None) -> None:
        self.update_job = None
        if message is None:
            self.update_cancelled.emit()
        else:
            self.update_failed.emit(message)

    # ---- reset, kind, import, export -----------------------------------------------------

    def reset(self, keep_examples: bool) -> None:
        """Back to the base model (after the running update is cancelled)."""
        self.cancel_update()
        kind, base_path, store = self.settings.kind, self.base_path, self.store

        def run(report):
            from ..model import load_model

            store.reset(keep_examples)
            return load_model(base_path, kind=kind)

        def done(model):
            self._swap(model)
            self.examples_changed.emit()

        self._replace(Job("Reset", run), done, "Reset failed")

    def apply_settings(self, settings: AppSettings) -> None:
        """Keep the new settings; a new classifier kind converts the model (on the worker)."""
        old_kind = self.settings.kind
        self.settings = settings
        settings.save()
        if self.model is None or settings.kind == old_kind or settings.kind == self.model.kind:
            return
        self.cancel_update()
        model, store, kind = self.model, self.store, settings.kind

        def run(report):
            _torch_ready()
            new = model.with_kind(kind)
            if store.current_includes():
                store.save_model(new, sorted(store.current_includes()))
            return new

        self._replace(Job("Changing the classifier", run), self._swap,
                      "The classifier could not be changed")

    def export(self, path: str | os.PathLike) -> Job:
        """Write the current model as an updatable Core ML model (coremltools on the worker)."""
        model, path = self.model, Path(path)
        includes = sorted(self.store.current_includes())

        def run(report):
            _torch_ready()
            from ..coreml.export import export_model

            return export_model(model, path, includes=includes,
                                progress=lambda fraction, message: report((fraction, message)))

        return self._submit(Job("Export", run), self.export_finished.emit,
                            lambda msg: self.job_failed.emit("Export failed", msg or "cancelled"))

    def import_model(self, path: str | os.PathLike) -> Job:
        """Make a .mlmodel (an emojisketch export) the personalized model."""
        store, path = self.store, Path(path)

        def run(report):
            _torch_ready()
            from ..coreml.importer import import_mlmodel, recorded_includes

            model = import_mlmodel(path)
            # The examples it says it learned, of those this store has: the others stay
            # pending and are learned by the next update.
            ids = {e.id for e in store.examples()}
            store.save_model(model, sorted(ids.intersection(recorded_includes(path))))
            return model

        def done(model):
            self._swap(model)
            self.import_finished.emit(path)

        return self._replace(Job("Import", run), done, "Import failed")

    # ---- plumbing ------------------------------------------------------------------------

    def _swap(self, model) -> None:
        self.model = model
        self.model_ready.emit(model)

    def _show_warnings(self) -> None:
        for message in self.store.warnings[self._warned:]:
            self.warning.emit(message)
        self._warned = len(self.store.warnings)

    def _replace(self, job: Job, on_done, failure_title: str) -> Job:
        """Submit a job that replaces the model; updates wait until it is done."""
        self._replacing += 1

        def finish():
            self._replacing -= 1
            if self._wanted:
                self.request_update()

        def done(result):
            on_done(result)
            finish()

        def failed(message):
            self.job_failed.emit(failure_title, message or "It was cancelled.")
            finish()

        return self._submit(job, done, failed)

    def _submit(self, job: Job, on_done=None, on_error=None) -> Job:
        self._handlers[job.id] = (on_done, on_error)
        return self.lane.submit(job)

    def _job_finished(self, job: Job, result) -> None:
        on_done, _ = self._handlers.pop(job.id, (None, None))
        if on_done is not None:
            on_done(result)

    def _job_cancelled(self, job: Job) -> None:
        _, on_error = self._handlers.pop(job.id, (None, None))
        if on_error is not None:
            on_error(None)

    def _job_errored(self, job: Job, message: str) -> None:
        _, on_error = self._handlers.pop(job.id, (None, None))
        if on_error is not None:
            on_error(message)

    def _job_progress(self, job: Job, payload) -> None:
        if job is self.update_job:
            if isinstance(payload, dict):  # the plan: how many examples, rebuild or not
                self.update_started.emit(payload)
            else:
                self.update_progress.emit(payload)
        elif job.name == "Export":
            self.export_progress.emit(payload)


def _torch_ready():
    """Import torch (seconds, the first time) with one thread: in a GUI process two threads
    made torch a hundred times slower whenever anything else was busy. Every job that may
    use torch calls this first; predicting with the compiled kernels needs no torch. Returns
    the module."""
    import torch

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)
    _Torch.ready = True
    return torch


def _warm_up(model) -> None:
    """One-off costs paid on the worker, not on the UI thread at the first prediction or
    correction: the emoji names (~0.15 s to index), importing torch (~2-3 s), the first
    optimizer (~0.8 s), the first embedding."""
    catalog.entries()
    catalog.get("")
    torch = _torch_ready()
    _Torch.cuda = bool(torch.cuda.is_available())
    from ..update import warm_up

    warm_up(model)


def describe_update(before, after, examples, rebuild: bool) -> str:
    """'Learned unicorn (3 drawings); 1 more drawing of red apple. 0.4 s.' (names, not
    emoji: the status bar has no emoji font)."""
    counts: dict[str, int] = {}
    for example in examples:
        counts[example.label] = counts.get(example.label, 0) + 1
    old = set(before.labels) if before is not None else set()
    parts = []
    for label, n in counts.items():
        name = catalog.name_of(label)
        drawings = f"{n} drawing{'s' * (n != 1)}"
        parts.append(f"learned {name} ({drawings})" if label not in old or rebuild
                     else f"{'one' if n == 1 else n} more drawing{'s' * (n != 1)} of {name}")
    lead = "Rebuilt your model from the base model: " if rebuild else "Updated: "
    took = after.meta.get("update_seconds")
    text = lead + ("; ".join(parts) if parts else "no drawings left, back to the base model")
    text += f". It knows {len(after.labels)} emoji"
    return text + (f" ({took:.1f} s)." if took is not None else ".")
