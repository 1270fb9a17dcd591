"""``emojisketch evaluate``: the base head's accuracy as JSON, and the personalization commands."""

import json
from pathlib import Path

import pytest
import torch

from emojisketch import cli, dataset, emojis, quickdraw
from emojisketch.checkpoint import save_net
from emojisketch.net import DrawingNet, NetConfig

DATA = Path(__file__).parent / "data"
BASE = DATA / "base"
WORDS = ["apple", "cat", "fish", "moon", "sun"]


@pytest.fixture
def model(tmp_path):
    """An untrained net over five base emoji, with the split and held-out words recorded."""
    torch.manual_seed(0)
    table = emojis.category_emoji()
    net = DrawingNet(NetConfig(n_classes=5, labels=[table[w] for w in WORDS])).eval()
    extra = {"words": WORDS, "holdout_words": ["anvil"],
             "split": {"test_percent": 30.0, "salt": "t", "cap_per_word": 3000}}
    return save_net(net, tmp_path / "m.safetensors", extra)


def _evaluate(capsys, *args):
    assert cli.main(["evaluate", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_base_counts_every_drawing_once_classified_or_skipped(model, capsys):
    out = _evaluate(capsys, "base", "--data", str(BASE), "--model", str(model))
    assert {"top1", "top3", "n", "classes", "skipped"} <= set(out)
    records = list(quickdraw.read(BASE))
    theirs = sum(r.word in WORDS for r in records)
    assert out["n"] == theirs and out["skipped"] == len(records) - theirs > 0
    assert out["classes"] == 5
    assert 0 <= out["top1"] <= out["top3"] <= 1
    assert set(out["by_source"]) == {"simplified", "raw", "bitmap", "thin"}


def test_base_reads_raw_coordinates_and_single_files(model, capsys):
    out = _evaluate(capsys, "base", "--data", str(DATA / "raw" / "full_raw_cat.ndjson"),
                    "--model", str(model))
    assert out["n"] == 3 and out["skipped"] == 0 and out["classes"] == 1


def test_base_on_the_test_split_uses_only_held_out_drawings(model, capsys):
    out = _evaluate(capsys, "base", "--data", str(BASE), "--model", str(model), "--split", "test")
    split = dataset.Split(30.0, "t")
    by_word, _ = dataset.word_files(BASE)
    test = {w: dataset.split_items(dataset.load_word(w, f), split)[1] for w, f in by_word.items()}
    assert out["n"] == sum(len(v) for w, v in test.items() if w in WORDS) > 0
    assert out["skipped"] == sum(len(v) for w, v in test.items() if w not in WORDS)


def test_a_trained_head_scores_above_chance(tmp_path, capsys):
    out_model = tmp_path / "trained.safetensors"
    assert cli.main(["train-base", "--data", str(BASE), "--out", str(out_model), "--epochs", "6",
                     "--batch-size", "16", "--holdout-words", "2", "--workers", "0", "--quiet"]) == 0
    out = _evaluate(capsys, "base", "--data", str(BASE), "--model", str(out_model))
    assert out["top1"] > 0.4  # 5 classes: chance is 0.2; these are its training drawings


def test_fewshot_and_stream_dispatch_to_the_episodes(model, tmp_path, capsys):
    out = _evaluate(capsys, "fewshot", "--data", str(BASE), "--model", str(model), "--ways", "2",
                    "--shots", "1", "--queries", "2", "--episodes", "3", "--words", "all")
    assert {"nway_top1", "generalized_top1", "episodes"} <= set(out) and out["episodes"] == 3
    words = tmp_path / "words.txt"
    words.write_text("fence\nmoon\n")
    out = _evaluate(capsys, "stream", "--data", str(BASE), "--model", str(model),
                    "--words", str(words))
    assert {"accuracy", "first_half", "second_half", "corrections"} <= set(out)
    assert out["drawings"] == 16
    out = _evaluate(capsys, "stream", "--data", str(BASE), "--model", str(model),
                    "--words", str(words), "--per-word", "3")
    assert out["drawings"] == 6 and out["words"] == 2
    out = _evaluate(capsys, "stream", "--data", str(BASE), "--model", str(model),
                    "--words", str(words), "--limit", "5")
    assert out["drawings"] == 5 and out["prototype_radius"] == 1.15
    out = _evaluate(capsys, "stream", "--data", str(BASE), "--model", str(model),
                    "--words", str(words), "--limit", "5", "--prototype-radius", "1.05")
    assert out["prototype_radius"] == 1.05


def test_fewshot_defaults_to_the_models_held_out_words(model, capsys):
    with pytest.raises(SystemExit):
        cli.main(["evaluate", "fewshot", "--data", str(BASE)])  # --ways and --shots are needed
    capsys.readouterr()
    assert cli.main(["evaluate", "fewshot", "--data", str(BASE), "--model", str(model),
                     "--ways", "2", "--shots", "1", "--episodes", "2", "--json"]) == 1
    assert "2-way episodes need 2 words" in capsys.readouterr().err  # only anvil is held out


def test_update_parameters_for_the_teaching_are_passed_and_checked(model, capsys, monkeypatch):
    from emojisketch import episodes

    seen = []
    real = episodes.fewshot
    monkeypatch.setattr(episodes, "fewshot",
                        lambda *a, parameters=None, **k: seen.append(parameters) or real(
                            *a, parameters=parameters, **k))
    args = ["fewshot", "--data", str(BASE), "--model", str(model), "--ways", "2", "--shots", "1",
            "--queries", "2", "--episodes", "2", "--words", "all"]
    _evaluate(capsys, *args)
    out = _evaluate(capsys, *args, "--set", "mirror=0", "--set", "k=5")
    assert seen == [{}, {"mirror": "0", "k": "5"}]
    assert out["parameters"] == {"mirror": "0", "k": "5"}
    assert cli.main(["evaluate", *args, "--set", "mirror=2"]) == 1  # checked by the update task
    assert "mirror must be between 0 and 1" in capsys.readouterr().err
    assert cli.main(["evaluate", *args, "--set", "mirror"]) == 1
    assert "write NAME=VALUE" in capsys.readouterr().err
