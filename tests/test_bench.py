"""`emojisketch bench` runs on a fresh clone's test drawings and prints the agreed keys."""

import json

import torch

from emojisketch import checkpoint, cli
from emojisketch.bench import measure
from emojisketch.net import DrawingNet, NetConfig

torch.set_num_threads(1)
KEYS = {"predict_ms_p50", "predict_ms_p95", "embed_ms_p50", "embed_ms_p95", "teach3_ms_p50",
        "nn_update_s", "peak_rss_mb", "repetitions", "cold_predict_s", "cold_imports_torch"}


def fake_base(tmp_path):
    torch.manual_seed(0)
    net = DrawingNet(NetConfig(channels=(8, 16, 16), embed_dim=32, n_classes=4, labels=["🍎", "🐱", "🐟", "🚲"]))
    return checkpoint.save_net(net, tmp_path / "base.safetensors")


def test_measure_reports_every_figure(tmp_path):
    r = measure(fake_base(tmp_path), predict_reps=5, teach_reps=2, nn_reps=1, cold_reps=2)
    assert KEYS <= set(r)
    assert r["repetitions"] == {"predict": 5, "teach3": 2, "nn_update": 1, "cold_start": 2}
    assert r["cold_predict_s"] > 0
    assert 0 < r["predict_ms_p50"] <= r["predict_ms_p95"]
    assert 0 < r["embed_ms_p50"] <= r["embed_ms_p95"]
    assert r["teach3_ms_p50"] > 0 and r["nn_update_s"] > 0 and r["peak_rss_mb"] > 10
    assert r["threads"] == 1


def test_bench_command_prints_json(tmp_path, capsys):
    rc = cli.main(["bench", "--json", "--model", str(fake_base(tmp_path)),
                   "--predict-reps", "3", "--teach-reps", "1", "--nn-reps", "1", "--cold-reps", "1"])
    assert rc == 0
    assert KEYS <= set(json.loads(capsys.readouterr().out))


def test_measure_says_whether_the_compiled_kernels_ran(tmp_path, monkeypatch):
    from emojisketch import native

    r = measure(fake_base(tmp_path), predict_reps=3, teach_reps=1, nn_reps=1, cold_reps=1)
    assert r["native"] is native.available()
    assert r["cold_imports_torch"] is not native.available()  # the kernels need no torch
    monkeypatch.setenv("EMOJISKETCH_NATIVE", "0")
    off = measure(fake_base(tmp_path), predict_reps=3, teach_reps=1, nn_reps=1, cold_reps=1)
    assert off["native"] is False and off["cold_imports_torch"] is True
