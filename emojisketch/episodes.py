"""Few-shot episodes and the correction stream: how well the model learns the user's drawings.

Both teach through the app's own correction path, :class:`emojisketch.update.UpdateTask`, with
the model's default update parameters unless told otherwise. ``emojisketch evaluate fewshot``
and ``evaluate stream`` (in :mod:`emojisketch.evaluate`) call :func:`fewshot` and
:func:`stream`.

The net is frozen, so every model taught here embeds a drawing exactly as the untaught one
does: each drawing is embedded once and its embedding handed to the taught model's
classifier, which is what ``model.predict_proba`` does, minus the repeated work.

* :func:`fewshot`: each episode, from the words with at least ``shots + queries`` drawings
  (sorted, then drawn with ``random.Random(seed)``), picks ``ways`` words and for each one
  ``shots`` drawings to teach and ``queries`` others to ask. A fresh copy of the model is
  taught the shots with the word as the label (a word the base net was trained on is
  labelled with its emoji instead: see :func:`base_word_labels`).
  ``nway_top1`` ranks only the taught labels; ``generalized_top1`` ranks every label the
  model knows (the base emoji too).
* :func:`stream`: every drawing, in a seeded order, is predicted; when the top-1 is wrong the
  true label is taught (one update per correction). ``accuracy`` counts the predictions made
  before each correction; ``first_half`` and ``second_half`` show the learning.
"""

from __future__ import annotations

import math
import os
import random
import time
from typing import Callable, Iterable

import numpy as np

from . import dataset, quickdraw
from .emojis import category_emoji
from .errors import DataFormatError, EmojisketchError
from .model import Example, UpdatableModel
from .update import UpdateTask


def holdout_words(model: UpdatableModel) -> list[str] | None:
    """The words the base net was not trained on, as its checkpoint records them."""
    words = model.meta.get("base", {}).get("holdout_words")
    return list(words) if words else None


def base_word_labels(model: UpdatableModel) -> dict[str, str]:
    """word -> base emoji for the words the base net knows: from its checkpoint's word list
    (extra ``words`` or ``base_words``, in label order) or else the category table."""
    base = model.meta.get("base", {})
    for key in ("words", "base_words"):
        words = base.get(key)
        if isinstance(words, list) and len(words) == len(model.base_labels):
            return dict(zip(words, model.base_labels))
    known = set(model.base_labels)
    try:
        return {w: e for w, e in category_emoji().items() if e in known}
    except DataFormatError:
        return {}


def load_drawings(data: str | os.PathLike, words: Iterable[str] | None = None,
                  labels: dict[str, str] | None = None) -> dict[str, list[Example]]:
    """word -> its drawings as Examples (image rendered once), each distinct drawing once.

    Files named after their word (Google's names) are read word by word as training reads
    them (:func:`emojisketch.dataset.load_word`): the simplified and raw strokes of one drawing
    count once, ``thin/`` renders are thickened. Other files are read record by record. The
    label is ``labels[word]`` where given (a base word's emoji), else the word itself."""
    labels = labels or {}
    words = None if words is None else list(words)
    by_word, _ = dataset.word_files(data)
    wanted = sorted(by_word) if words is None else [w for w in words if w in by_word]
    out: dict[str, list[Example]] = {}
    if by_word and wanted:
        for w in wanted:
            out[w] = [Example(it.drawing, labels.get(w, w), image=it.render())
                      for it in dataset.load_word(w, by_word[w])]
        return out
    for rec in quickdraw.read(data, words=words):  # files not named after their word
        out.setdefault(rec.word, []).append(
            Example(rec.drawing, labels.get(rec.word, rec.word), image=dataset.record_image(rec)))
    if not out:
        raise DataFormatError(f"no drawings found in {data}" + (" for those words" if words else ""))
    return dict(sorted(out.items()))


def _mean_ci(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=np.float64)
    half = 1.96 * a.std(ddof=1) / math.sqrt(len(a)) if len(a) > 1 else float("nan")
    return float(a.mean()), float(half)


def fewshot(model: UpdatableModel, data: str | os.PathLike | dict[str, list[Example]], ways: int,
            shots: int, queries: int = 5, episodes: int = 200, seed: int = 0,
            words: Iterable[str] | None = None, parameters: dict | None = None,
            progress: Callable[[int, int], None] | None = None) -> dict:
    """N-way K-shot episodes; returns nway_top1, generalized_top1 (means over episodes),
    their 95% intervals, and the settings."""
    started = time.perf_counter()
    drawings = data if isinstance(data, dict) else load_drawings(data, words, base_word_labels(model))
    eligible = sorted(w for w, ex in drawings.items() if len(ex) >= shots + queries)
    if len(eligible) < ways:
        raise EmojisketchError(f"{ways}-way episodes need {ways} words with at least "
                               f"{shots + queries} drawings; the data has {len(eligible)}")
    cache: dict[str, np.ndarray] = {w: model.embed(np.stack([e.image for e in drawings[w]]))
                                    for w in eligible}
    rng = random.Random(seed)
    nway, general = [], []
    for ep in range(episodes):
        chosen = rng.sample(eligible, ways)
        teach, q_emb, q_labels = [], [], []
        for w in chosen:
            idx = rng.sample(range(len(drawings[w])), shots + queries)
            teach += [drawings[w][i] for i in idx[:shots]]
            q_emb.append(cache[w][idx[shots:]])
            q_labels += [drawings[w][i].label for i in idx[shots:]]
        taught = UpdateTask(model, teach, parameters, seed=seed + ep).run()
        order, _ = taught.classifier.rank(np.concatenate(q_emb))
        labels = np.asarray(taught.labels)
        ranked = labels[order]  # (Q, C) labels best first
        truth = np.asarray(q_labels)
        general.append(float((ranked[:, 0] == truth).mean()))
        in_episode = np.isin(ranked, [drawings[w][0].label for w in chosen])
        first_taught = ranked[np.arange(len(ranked)), in_episode.argmax(axis=1)]
        nway.append(float((first_taught == truth).mean()))
        if progress is not None:
            progress(ep + 1, episodes)
    (n_mean, n_ci), (g_mean, g_ci) = _mean_ci(nway), _mean_ci(general)
    return {"kind": model.kind, "ways": ways, "shots": shots, "queries": queries,
            "episodes": episodes, "seed": seed, "words": len(eligible),
            "nway_top1": n_mean, "nway_top1_ci95": n_ci,
            "generalized_top1": g_mean, "generalized_top1_ci95": g_ci,
            "seconds": round(time.perf_counter() - started, 2)}


def stream(model: UpdatableModel, data: str | os.PathLike | dict[str, list[Example]], seed: int = 0,
           words: Iterable[str] | None = None, parameters: dict | None = None,
           limit: int | None = None, progress: Callable[[int, int], None] | None = None) -> dict:
    """The app's loop: predict each drawing, teach it when the top-1 is wrong."""
    return run_stream(model, data, seed, words, parameters, limit, progress)[0]


def run_stream(model: UpdatableModel, data, seed: int = 0, words=None, parameters=None,
               limit=None, progress=None) -> tuple[dict, UpdatableModel]:
    """:func:`stream`, also returning the model as the stream left it."""
    started = time.perf_counter()
    drawings = data if isinstance(data, dict) else load_drawings(data, words, base_word_labels(model))
    items = [ex for exs in drawings.values() for ex in exs]
    random.Random(seed).shuffle(items)
    items = items[:limit] if limit else items
    emb = model.embed(np.stack([ex.image for ex in items]))
    hits, known = [], set(model.base_labels)
    for i, ex in enumerate(items):
        order, _ = model.classifier.rank(emb[i : i + 1])
        hit = model.labels[order[0, 0]] == ex.label if len(model.labels) else False
        hits.append(hit)
        if not hit:
            model = UpdateTask(model, [ex], parameters, seed=seed + i).run()
        if progress is not None:
            progress(i + 1, len(items))
    n, half = len(hits), len(hits) // 2
    is_base = [ex.label in known for ex in items]
    base_hits = [h for h, b in zip(hits, is_base) if b]
    new_hits = [h for h, b in zip(hits, is_base) if not b]
    return {"kind": model.kind, "seed": seed, "drawings": n, "words": len(drawings),
            "accuracy": sum(hits) / n,
            "first_half": sum(hits[:half]) / max(half, 1),
            "second_half": sum(hits[half:]) / max(n - half, 1),
            "corrections": n - sum(hits),
            # the same accuracy over drawings of base emoji, and of labels the base lacks
            "base_accuracy": sum(base_hits) / len(base_hits) if base_hits else None,
            "new_accuracy": sum(new_hits) / len(new_hits) if new_hits else None,
            "seconds": round(time.perf_counter() - started, 2)}, model
