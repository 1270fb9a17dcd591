"""The update task: a new model out, the old one untouched, events, cancel, determinism."""

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from emojisketch import ink, quickdraw
from emojisketch.errors import Cancelled, EmojisketchError
from emojisketch.model import Example, ParameterError, from_net
from emojisketch.net import DrawingNet, NetConfig
from emojisketch.update import UpdateTask, training_images, warm_up

torch.set_num_threads(1)
SAMPLE = Path(__file__).parent / "data" / "quickdraw_sample.ndjson"


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    cfg = NetConfig(channels=(8, 16, 16), embed_dim=32, n_classes=5, labels=["🍎", "🐱", "🐟", "🚲", "☀️"])
    return DrawingNet(cfg).eval()


@pytest.fixture(scope="module")
def examples():
    recs = list(quickdraw.read(SAMPLE))
    return [Example(r.drawing, r.word) for r in recs[::9]]  # 20 drawings, 18 words


def snapshot(model):
    c = model.classifier
    arrays = [np.array(a) for a in ((c.embeddings,) if model.kind == "knn" else (c.weight, c.bias, c.replay))]
    return list(model.labels), arrays, dict(model.meta), dict(model.parameters)


def same(a, b):
    return a[0] == b[0] and a[2:] == b[2:] and all(np.array_equal(x, y) for x, y in zip(a[1], b[1]))


@pytest.mark.parametrize("kind", ["knn", "nn"])
def test_update_returns_a_new_model_and_leaves_the_input_as_it_was(net, examples, kind):
    model = from_net(net, kind)
    before = snapshot(model)
    new = UpdateTask(model, examples[:4]).run()
    assert same(snapshot(model), before)
    assert new is not model and new.meta["n_examples"] == 4 and new.meta["updates"] == 1
    assert set(e.label for e in examples[:4]) <= set(new.labels)


def test_knn_learns_a_new_label_from_its_first_example(net, examples):
    model = from_net(net, "knn")
    octopus = examples[3].drawing
    assert "🐙" not in model.labels
    new = UpdateTask(model, [Example(octopus, "🐙")]).run()
    assert new.labels == model.labels + ["🐙"]
    assert new.predict(octopus)[0][0] == "🐙"
    assert new.classifier.n_examples == 1 and len(new.classifier.labels) == 6


def test_nn_head_grows_a_row_per_new_label_and_learns_it(net, examples):
    model = from_net(net, "nn")
    batch = [Example(e.drawing, "🐙") for e in examples[:3]] + [Example(examples[5].drawing, "🍎")]
    losses = []
    new = UpdateTask(model, batch, {"epochs": 20, "replay": 0}).run(
        progress=lambda e: e.kind == "epoch_end" and losses.append(e.loss))
    assert new.labels == model.labels + ["🐙"]
    assert new.classifier.weight.shape == (6, 32) and new.classifier.bias.shape == (6,)
    assert losses[-1] < losses[0]
    images = np.stack([ink.to_image(e.drawing) for e in batch[:3]])
    p_new = new.predict_proba(images)[:, -1]
    assert (p_new > 1 / 6).all()  # the taught label, unknown before, now takes a real share
    assert new.classifier.replay_labels == ["🐙", "🐙", "🐙", "🍎"]


@pytest.mark.parametrize("kind", ["knn", "nn"])
def test_events_come_in_core_ml_order_with_metrics(net, examples, kind):
    events = list(UpdateTask(from_net(net, kind), examples[:10], {"epochs": 3} if kind == "nn" else None).events())
    kinds = [e.kind for e in events]
    assert kinds[0] == "began" and kinds[-1] == "completed" and events[-1].model is not None
    epochs = [e for e in events if e.kind == "epoch_end"]
    assert [e.epoch for e in epochs] == list(range(events[0].epochs))
    for epoch in epochs:  # each epoch's mini-batches 0..n-1 come before its epoch_end
        i = events.index(epoch)
        mb = [e.minibatch for e in events[:i] if e.kind == "minibatch_end" and e.epoch == epoch.epoch]
        assert mb == list(range(events[0].minibatches))
    if kind == "nn":
        assert all(np.isfinite(e.loss) for e in events if e.kind in ("minibatch_end", "epoch_end"))
        assert events[0].epochs == 3
    assert [e.progress for e in events] == sorted(e.progress for e in events)
    assert events[-1].progress == 1.0


@pytest.mark.parametrize("kind", ["knn", "nn"])
def test_cancel_between_minibatches_leaves_nothing(net, examples, kind):
    model = from_net(net, kind)
    before = snapshot(model)
    task = UpdateTask(model, examples, {"augment": 0, "mini_batch_size": 4} if kind == "nn" else None)
    seen = []

    def progress(event):
        seen.append(event)
        if event.kind == ("minibatch_end" if kind == "nn" else "began"):
            task.cancel()

    with pytest.raises(Cancelled):
        task.run(progress=progress)
    assert seen[-1].kind == "cancelled" and seen[-1].model is None
    assert not any(e.kind == "completed" for e in seen)
    assert sum(e.kind == "minibatch_end" for e in seen) == (1 if kind == "nn" else 0)
    assert same(snapshot(model), before)


def test_cancel_from_another_thread(net, examples):
    task = UpdateTask(from_net(net, "nn"), examples, {"epochs": 100, "augment": 0, "mini_batch_size": 1})
    started = threading.Event()
    result = {}

    def work():
        try:
            task.run(progress=lambda e: started.set())
        except Cancelled as exc:
            result["error"] = exc

    t = threading.Thread(target=work)
    t.start()
    assert started.wait(10)
    task.cancel()
    t.join(10)
    assert isinstance(result.get("error"), Cancelled)


@pytest.mark.parametrize("kind", ["knn", "nn"])
def test_same_seed_same_model_other_seed_other_model(net, examples, kind):
    model = from_net(net, kind)
    params = {"augment": 2, **({"epochs": 2} if kind == "nn" else {})}
    a = UpdateTask(model, examples[:5], params, seed=7).run()
    b = UpdateTask(model, examples[:5], params, seed=7).run()
    c = UpdateTask(model, examples[:5], params, seed=8).run()
    assert same(snapshot(a), snapshot(b))
    assert not same(snapshot(a), snapshot(c))


def test_parameters_override_per_update(net, examples):
    model = from_net(net, "nn")
    events = list(UpdateTask(model, examples[:2], {"epochs": 2, "augment": 0}).events())
    assert sum(e.kind == "epoch_end" for e in events) == 2
    assert model.parameters["epochs"] == 10  # the model's default is not changed
    knn = UpdateTask(from_net(net, "knn"), examples[:1], {"k": 5}).run()
    assert knn.classifier.k == 5 and knn.update_description()["parameters"]["k"]["default"] == 5
    with pytest.raises(ParameterError):
        UpdateTask(model, examples[:1], {"epochs": -1})
    with pytest.raises(ParameterError):
        UpdateTask(model, examples[:1], {"k": 3})


def test_bad_input_fails_with_a_clear_error(net, examples):
    model = from_net(net, "knn")
    with pytest.raises(EmojisketchError):
        UpdateTask(model, [])
    with pytest.raises(EmojisketchError):
        UpdateTask(model, [Example(examples[0].drawing, "  ")])
    task = UpdateTask(model, [Example(None, "🐙")])  # neither strokes nor an image
    events = list(task.events())
    assert [e.kind for e in events] == ["began", "failed"] and isinstance(events[-1].error, EmojisketchError)
    with pytest.raises(EmojisketchError):
        UpdateTask(model, [Example(None, "🐙")]).run()


def test_bitmap_examples_can_be_taught_and_augmented(net):
    recs = list(quickdraw.read(SAMPLE.parent / "bitmap"))
    batch = [Example(None, "🍏", image=r.image) for r in recs[:3]]
    new = UpdateTask(from_net(net, "knn"), batch, {"augment": 2}).run()
    assert new.classifier.n_examples == 9 and new.meta["n_examples"] == 3


def test_augmented_copies_are_new_drawings_of_the_same_thing(examples):
    ex = examples[0]
    a, labels, original = training_images([ex], 3, np.random.default_rng(1))
    b, _, _ = training_images([ex], 3, np.random.default_rng(1))
    assert a.shape == (4, 28, 28) and labels == [ex.label] * 4 and original.tolist() == [True] + [False] * 3
    assert np.array_equal(a, b)  # seeded
    assert np.array_equal(a[0], ink.to_image(ex.drawing))
    for copy in a[1:]:
        assert not np.array_equal(copy, a[0])
        overlap = (copy * a[0]).sum() / np.sqrt((copy**2).sum() * (a[0] ** 2).sum())
        assert overlap > 0.2  # still ink in the same places, mostly


def test_warm_up_runs_with_and_without_a_model(net):
    warm_up()
    warm_up(from_net(net))


def test_knn_stores_a_drawing_averaged_with_its_mirror_image_unless_told_not_to(examples):
    from test_coreml_helpers import tiny_model  # a random net whose embedding depends on the drawing

    model = tiny_model("knn")
    drawing = examples[2].drawing  # a lopsided doodle: its mirror image embeds elsewhere
    image = ink.to_image(drawing)
    plain, flipped = model.embed(image), model.embed(image[:, ::-1].copy())
    assert np.abs(plain - flipped).max() > 1e-3
    mirrored = UpdateTask(model, [Example(drawing, "🦜")]).run()  # mirror=1 by default
    as_drawn = UpdateTask(model, [Example(drawing, "🦜")], {"mirror": 0}).run()
    both = (plain + flipped) / np.linalg.norm(plain + flipped)
    np.testing.assert_allclose(mirrored.classifier.examples, both, atol=1e-6)
    np.testing.assert_allclose(as_drawn.classifier.examples, plain, atol=1e-6)
    assert mirrored.classifier.n_examples == as_drawn.classifier.n_examples == 1
    with pytest.raises(ParameterError, match="mirror"):
        UpdateTask(model, [Example(drawing, "🦜")], {"mirror": 2})
