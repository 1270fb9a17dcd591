"""The update task: a model and a batch of taught drawings in, a new model out.

Written like Core ML 3's ``MLUpdateTask``: it reports ``began``, then ``minibatch_end`` and
``epoch_end`` with their metrics (loss, epoch, mini-batch), then one final event:
``completed`` (with the new model), ``failed`` (with the error) or ``cancelled``. The input
model is never touched, so the app keeps predicting with it while the task runs; a cancelled
or failed task leaves nothing behind. Plain Python with no Qt: the app's worker thread runs
``task.run(progress=...)`` and relays the events as signals, and ``task.cancel()`` may be
called from any thread (it is checked between mini-batches).

* k-NN: embed each drawing (and ``augment`` jittered copies; with ``mirror``, each embedding
  averaged with its mirror image's) and append them (Core ML's k-NN
  update is the same append), or with ``entries="class_means"`` (the default) fold them into
  their labels' mean entries: one epoch, one mini-batch, no loss.
* neural head: grow a row per new label (``scale * normalize(mean embedding)``), then train
  weight and bias with softmax cross-entropy on the new examples (and jittered copies), the
  user's earlier examples (kept as embeddings in the head) and ``replay`` base prototypes per
  epoch as pseudo-examples, so that a few drawings do not make it forget the base emoji.

Augmentation (``augment`` jittered copies of each drawing) is :mod:`emojisketch.augment`'s, the
same as the base model's training: strokes changed as a hand would change them, then rendered
by the one ink pipeline; bitmaps warped as images.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from . import ink
from .augment import augment_drawing, augment_images
from .errors import Cancelled, EmojisketchError, InkError
from .model import Example, ParameterError, UpdatableModel, add_classes, check_parameters

EVENT_KINDS = ("began", "minibatch_end", "epoch_end", "completed", "failed", "cancelled")


@dataclass(frozen=True)
class UpdateEvent:
    """One report of an update task; ``epochs`` and ``minibatches`` (per epoch) are totals."""

    kind: str
    epoch: int | None = None
    minibatch: int | None = None
    loss: float | None = None
    model: UpdatableModel | None = None
    error: BaseException | None = None
    epochs: int = 0
    minibatches: int = 0

    @property
    def progress(self) -> float:
        """How far the task is, 0..1, for a progress bar."""
        if self.kind == "completed":
            return 1.0
        if self.epoch is None or not self.epochs:
            return 0.0
        done = self.epoch * self.minibatches + (self.minibatch + 1 if self.minibatch is not None
                                                else self.minibatches)
        return min(1.0, done / max(1, self.epochs * self.minibatches))


# -- augmentation --------------------------------------------------------------------------

def training_images(examples: list[Example], copies: int, rng: np.random.Generator
                    ) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(images (M, 28, 28), labels, is_original (M,)): each example then its jittered copies."""
    images, labels, original = [], [], []
    for ex in examples:
        image = ex.to_image()
        images.append(image)
        if ex.drawing is not None:  # strokes: changed as a hand would, then the one renderer
            strokes = ink.normalize(ex.drawing)
            images += [ink.rasterize(augment_drawing(strokes, rng)) for _ in range(copies)]
        elif copies:  # a bitmap: warped and re-stroked as an image
            gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
            batch = torch.from_numpy(np.repeat(image[None, None], copies, axis=0))
            images += list(augment_images(batch, gen)[:, 0].numpy())
        labels += [ex.label] * (1 + copies)
        original += [True] + [False] * copies
    return np.stack(images).astype(np.float32), labels, np.asarray(original)


def embed_examples(model: UpdatableModel, images: np.ndarray, mirror: bool) -> np.ndarray:
    """The taught drawings' unit embeddings; with ``mirror``, each one averaged with its
    mirror image's, as one unit vector: a doodle means the same either way (the base net was
    trained on mirrored drawings too), and the pair says more about the emoji than either
    alone, at no cost when predicting. Both images go through the net in one call."""
    if not mirror:
        return model.embed(images)
    both = model.embed(np.concatenate([images, images[:, :, ::-1]]))
    both = both[: len(images)] + both[len(images) :]
    return (both / np.maximum(np.linalg.norm(both, axis=1, keepdims=True), 1e-12)).astype(np.float32)


# -- the task ------------------------------------------------------------------------------

class UpdateTask:
    """``UpdateTask(model, examples, parameters, seed).run(progress=...)`` -> a new model."""

    def __init__(self, model: UpdatableModel, examples: Iterable[Example],
                 parameters: dict | None = None, seed: int = 0):
        self.model = model
        self.examples = list(examples)
        if not self.examples:
            raise EmojisketchError("nothing to learn: the update has no examples")
        for ex in self.examples:
            if not isinstance(ex.label, str) or not ex.label.strip():
                raise EmojisketchError("every taught drawing needs a label")
        overrides = dict(model.parameters, **(parameters or {}))
        self.parameters = check_parameters(model.kind, overrides)
        self.seed = int(seed)
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Ask the task to stop at the next mini-batch boundary (thread-safe)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def events(self) -> Iterator[UpdateEvent]:
        """Every event, the last being ``completed``, ``failed`` or ``cancelled``."""
        try:
            yield from self._train()
        except _Stop:
            yield UpdateEvent("cancelled")
        except Exception as exc:  # reported as Core ML does: a final event with the error
            error = exc
            if not isinstance(exc, EmojisketchError):
                error = EmojisketchError(f"the update failed: {exc}")
                error.__cause__ = exc
            yield UpdateEvent("failed", error=error)

    def run(self, progress: Callable[[UpdateEvent], None] | None = None) -> UpdatableModel:
        """Train and return the new model; raises Cancelled, or the error of a failed task."""
        for event in self.events():
            if progress is not None:
                progress(event)
            if event.kind == "completed":
                return event.model
            if event.kind == "cancelled":
                raise Cancelled("the update was cancelled; the model is as it was")
            if event.kind == "failed":
                raise event.error
        raise AssertionError("an update ended without a final event")  # pragma: no cover

    # -- the work ------------------------------------------------------------------------
    def _check(self) -> None:
        if self._cancel.is_set():
            raise _Stop

    def _embed_examples(self, rng: np.random.Generator) -> tuple[np.ndarray, list[str], np.ndarray]:
        images, labels, original = [], [], []
        for i in range(0, len(self.examples), 32):  # check for cancel between chunks
            self._check()
            try:
                chunk = self.examples[i : i + 32]
                im, lab, orig = training_images(chunk, self.parameters["augment"], rng)
            except InkError as exc:
                raise InkError(f"a taught drawing cannot be used: {exc}") from None
            images.append(im), labels.extend(lab), original.append(orig)
        self._check()
        images = np.concatenate(images)
        emb = embed_examples(self.model, images, bool(self.parameters.get("mirror")))
        return emb, labels, np.concatenate(original)

    def _train(self) -> Iterator[UpdateEvent]:
        rng = np.random.default_rng(self.seed)
        if self.model.kind == "knn":
            yield UpdateEvent("began", epochs=1, minibatches=1)
            emb, labels, _ = self._embed_examples(rng)
            self._check()
            yield UpdateEvent("minibatch_end", epoch=0, minibatch=0, epochs=1, minibatches=1)
            new = self.model.classifier.with_entries(emb, labels, k=self.parameters["k"],
                                                     entries=self.parameters["entries"])
            yield UpdateEvent("epoch_end", epoch=0, epochs=1, minibatches=1)
            self._check()
        else:
            new = yield from self._train_head(rng)
        meta = {"n_examples": self.model.meta["n_examples"] + len(self.examples),
                "updates": self.model.meta.get("updates", 0) + 1}
        model = self.model.derive(new, meta)
        yield UpdateEvent("completed", model=model)

    def _train_head(self, rng: np.random.Generator):
        p = self.parameters
        head = self.model.classifier
        n_replay = min(p["replay"], head.n_base)
        n_items = len(self.examples) * (1 + p["augment"]) + head.n_examples + n_replay
        batch = p["mini_batch_size"]
        n_batches = math.ceil(n_items / batch)
        yield UpdateEvent("began", epochs=p["epochs"], minibatches=n_batches)
        emb, labels, original = self._embed_examples(rng)
        head = add_classes(head, emb[original], [l for l, o in zip(labels, original) if o],
                           self.model.weights.config.scale)
        index = {c: j for j, c in enumerate(head.classes)}
        # The user's items: this batch (with copies) and the examples of earlier updates.
        x_user = torch.from_numpy(np.concatenate([emb, head.replay]))
        y_user = torch.tensor([index[l] for l in labels + head.replay_labels])
        protos = torch.from_numpy(np.array(self.model.prototypes))  # (n_base, D) pseudo-examples
        weight = torch.nn.Parameter(torch.from_numpy(np.array(head.weight)))
        bias = torch.nn.Parameter(torch.from_numpy(np.array(head.bias)))
        opt = _optimizer([weight, bias], p)
        gen = torch.Generator().manual_seed(self.seed)
        for epoch in range(p["epochs"]):
            pick = torch.randperm(head.n_base, generator=gen)[:n_replay]
            x = torch.cat([x_user, protos[pick]])
            y = torch.cat([y_user, pick])
            order = torch.randperm(len(x), generator=gen)
            total = 0.0
            for b in range(n_batches):
                self._check()
                sel = order[b * batch : (b + 1) * batch]
                loss = F.cross_entropy(x[sel] @ weight.T + bias, y[sel])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item()
                yield UpdateEvent("minibatch_end", epoch=epoch, minibatch=b, loss=loss.item(),
                                  epochs=p["epochs"], minibatches=n_batches)
            yield UpdateEvent("epoch_end", epoch=epoch, loss=total / n_batches,
                              epochs=p["epochs"], minibatches=n_batches)
        self._check()
        orig = emb[original]
        return head.with_params(
            weight.detach().numpy(), bias.detach().numpy(), head.classes,
            np.concatenate([head.replay, orig]),
            head.replay_labels + [l for l, o in zip(labels, original) if o])


class _Stop(Exception):
    """Raised inside the task when cancel() was called."""


def _optimizer(params: list[torch.nn.Parameter], p: dict) -> torch.optim.Optimizer:
    if p["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=p["learning_rate"], momentum=p["momentum"])
    if p["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=p["learning_rate"])
    raise ParameterError(f"unknown optimizer {p['optimizer']!r}")  # pragma: no cover


_warm = False


def warm_up(model: UpdatableModel | None = None) -> None:
    """Pay the one-off costs of a process's first update now (call it off the UI thread):
    the first optimizer imports torch._dynamo (~0.8 s); the first embedding allocates."""
    global _warm
    if not _warm:
        w = torch.nn.Parameter(torch.zeros(2, 2))
        for opt in (torch.optim.Adam([w], lr=0.1), torch.optim.SGD([w], lr=0.1, momentum=0.9)):
            opt.zero_grad()
            (w.sum() ** 2).backward()
            opt.step()
        _warm = True
    if model is not None:
        model.predict_proba(np.zeros((2, ink.SIDE, ink.SIDE), np.float32))
