"""Few-shot episodes and the correction stream, on the test drawings with a random net."""

from pathlib import Path

import numpy as np
import pytest
import torch

from emojisketch.episodes import base_word_labels, fewshot, holdout_words, load_drawings, stream
from emojisketch.errors import EmojisketchError
from emojisketch.model import from_net
from emojisketch.net import DrawingNet, NetConfig

torch.set_num_threads(1)
DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "quickdraw_sample.ndjson"


@pytest.fixture(scope="module")
def net():
    """A random net, centred on the test drawings so that their embeddings spread out (a
    random CNN maps every drawing to nearly the same direction)."""
    torch.manual_seed(0)
    net = DrawingNet(NetConfig(channels=(8, 16, 16), embed_dim=32, n_classes=3, labels=["🍎", "🐱", "🐟"]))
    net.eval()
    images = [e.image for ex in load_drawings(SAMPLE).values() for e in ex]
    with torch.no_grad():
        features = net.blocks(torch.from_numpy(np.stack(images))[:, None]).mean(dim=(2, 3))
        net.proj.bias.copy_(-net.proj.weight @ features.mean(0))
    return net


@pytest.fixture(scope="module")
def drawings():
    return load_drawings(SAMPLE, words=["apple", "cat", "fish", "sun", "moon", "tree"])


@pytest.mark.parametrize("kind", ["knn", "nn"])
def test_fewshot_episodes_report_both_accuracies(net, drawings, kind):
    params = {"epochs": 2, "augment": 0} if kind == "nn" else None
    r = fewshot(from_net(net, kind), drawings, ways=3, shots=1, queries=2, episodes=4, seed=1, parameters=params)
    assert r["episodes"] == 4 and r["ways"] == 3 and r["words"] == 6 and r["kind"] == kind
    for key in ("nway_top1", "generalized_top1"):
        assert 0.0 <= r[key] <= 1.0
    assert r["generalized_top1"] <= r["nway_top1"]  # ranking more labels can only lose
    again = fewshot(from_net(net, kind), drawings, ways=3, shots=1, queries=2, episodes=4, seed=1, parameters=params)
    assert (again["nway_top1"], again["generalized_top1"]) == (r["nway_top1"], r["generalized_top1"])


def test_fewshot_needs_enough_words_and_drawings(net, drawings):
    with pytest.raises(EmojisketchError, match="7-way"):
        fewshot(from_net(net), drawings, ways=7, shots=1, queries=2, episodes=1)
    with pytest.raises(EmojisketchError):
        fewshot(from_net(net), drawings, ways=2, shots=8, queries=5, episodes=1)  # 10 drawings a word


@pytest.mark.parametrize("kind", ["knn", "nn"])
def test_stream_counts_predictions_before_each_correction(net, drawings, kind):
    params = {"epochs": 1, "augment": 0} if kind == "nn" else None
    r = stream(from_net(net, kind), drawings, seed=0, limit=24, parameters=params)
    assert r["drawings"] == 24
    assert r["corrections"] == round(24 * (1 - r["accuracy"]))
    assert r["accuracy"] == pytest.approx((r["first_half"] + r["second_half"]) / 2)
    # sun, moon and tree are not base emoji: the first drawing of each cannot be right.
    assert r["corrections"] >= 3


def test_knn_stream_learns_from_corrections(net):
    # Every drawing twice: the second time the k-NN has its exact copy stored.
    once = load_drawings(SAMPLE, words=["apple", "cat", "fish"])
    twice = {w: ex + ex for w, ex in once.items()}
    r = stream(from_net(net, "knn"), twice, seed=3)
    assert r["drawings"] == 60 and r["corrections"] <= 30


def test_reads_files_and_folders_of_any_format(net):
    assert set(load_drawings(DATA / "bitmap")) == {"apple"}  # bitmaps carry their image
    raw = load_drawings(DATA / "raw")
    assert set(raw) == {"cat", "fish"} and raw["cat"][0].image.shape == (28, 28)


def test_base_words_are_labelled_with_their_emoji(net, drawings):
    assert base_word_labels(from_net(net)) == {"apple": "🍎", "cat": "🐱", "fish": "🐟"}
    listed = from_net(net, base_extra={"words": ["pear", "dog", "shark"]})
    assert base_word_labels(listed) == {"pear": "🍎", "dog": "🐱", "shark": "🐟"}
    assert drawings["apple"][0].label == "apple"  # load_drawings labels with the word unless told
    mapped = load_drawings(SAMPLE, words=["apple"], labels=base_word_labels(from_net(net)))
    assert {e.label for e in mapped["apple"]} == {"🍎"}


def test_holdout_words_come_from_the_base_checkpoint(net):
    assert holdout_words(from_net(net)) is None
    assert holdout_words(from_net(net, base_extra={"holdout_words": ["sun"]})) == ["sun"]


def test_a_folder_in_googles_layout_gives_each_drawing_once_as_training_sees_it():
    """apple has simplified and raw strokes of the same drawings, Google's bitmaps and thin/
    renders of them: one Example each, as dataset.load_word reads them (thin/ thickened)."""
    from emojisketch import dataset, quickdraw

    base = DATA / "base"
    apple = load_drawings(base, words=["apple"])["apple"]
    by_word, _ = dataset.word_files(base)
    items = dataset.load_word("apple", by_word["apple"])
    assert len(apple) == len(items)
    assert all(np.array_equal(e.image, it.render()) for e, it in zip(apple, items))
    files = sum((len(list(quickdraw.read(f))) for f in base.glob("*/*apple*")), 0)
    assert len(apple) < files  # the same drawing in several files counts once
