"""Training the base model: a tiny run on real doodles, the split by drawing, and DDP."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from emojisketch import cli, dataset, emojis
from emojisketch.checkpoint import load_net
from emojisketch.training import distill_loss

BASE = Path(__file__).parent / "data" / "base"
TINY = ["--data", str(BASE), "--epochs", "4", "--batch-size", "16", "--holdout-words", "1",
        "--workers", "0", "--quiet", "--epoch-cap", "24"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "base.safetensors"
    assert cli.main(["train-base", "--out", str(out), *TINY]) == 0
    return out


def test_a_tiny_run_learns_and_saves_a_model_that_loads_back(trained):
    net, extra = load_net(trained)
    history = extra["history"]
    assert len(history) == 4
    assert history[-1]["loss"] < history[0]["loss"]
    table = emojis.category_emoji()
    # the head knows the emoji of the words with one, in the table's order; not anvil or fence
    assert net.config.labels == [table[w] for w in ("apple", "cat", "fish", "moon", "sun")]
    assert net.config.n_classes == 5 == net.prototypes.shape[0]
    assert extra["words"] == ["apple", "cat", "fish", "moon", "sun"]
    assert extra["credit"] == "Quick, Draw! dataset by Google Creative Lab, CC BY 4.0"
    assert len(extra["holdout_words"]) == 1 and extra["holdout_words"][0] in ("anvil", "fence")
    assert extra["command"].startswith("emojisketch train-base")
    assert extra["split"]["test_percent"] == 15.0 and extra["duration_s"] > 0
    assert {"test_top1", "test_top3", "quick_fewshot"} <= set(extra["figures"])


def test_threads_default_to_the_cores_shared_out_and_are_given_back(tmp_path):
    from emojisketch.train import _threads
    cores = len(os.sched_getaffinity(0))
    assert _threads(0, 1) == cores and _threads(0, 2) == max(1, cores // 2)
    assert _threads(0, 4 * cores) == 1 and _threads(3, 2) == 3
    before = torch.get_num_threads()
    assert cli.main(["train-base", "--out", str(tmp_path / "m.safetensors"), *TINY,
                     "--epochs", "1", "--threads", str(before + 2)]) == 0
    assert torch.get_num_threads() == before  # the caller's own setting, as it was


def test_a_student_distils_from_a_teacher_with_mirrored_drawings(trained, tmp_path, capsys):
    out = tmp_path / "student.safetensors"
    assert cli.main(["train-base", "--out", str(out), *TINY, "--epochs", "2",
                     "--teacher", str(trained), "--flip", "0.5"]) == 0
    extra = load_net(out)[1]
    assert f"--teacher {trained}" in extra["command"] and "--flip 0.5" in extra["command"]
    # a teacher whose head is over other words is refused with the reason
    other = tmp_path / "other.safetensors"
    assert cli.main(["train-base", "--out", str(other), *TINY, "--epochs", "1",
                     "--max-words", "3"]) == 0
    assert cli.main(["train-base", "--out", str(tmp_path / "x.safetensors"), *TINY,
                     "--teacher", str(other)]) != 0
    assert "not over this run's emoji words" in capsys.readouterr().err
    assert not (tmp_path / "x.safetensors").exists()


def test_one_command_trains_a_teacher_then_its_student(tmp_path):
    out = tmp_path / "base.safetensors"
    assert cli.main(["train-base", "--out", str(out), *TINY, "--epochs", "2",
                     "--teacher-epochs", "1"]) == 0
    teacher = tmp_path / "base.teacher.safetensors"
    student, first = load_net(out)[1], load_net(teacher)[1]
    assert student["teacher"] == str(teacher) and first["teacher"] is None
    assert len(first["history"]) == 1 and len(student["history"]) == 2
    assert student["duration_s"] > first["duration_s"]  # the student's time includes the teacher's


def test_distill_loss_is_zero_for_the_teachers_own_answers_and_grows_away_from_them():
    t = torch.tensor([[2.0, 0.5, -1.0], [0.0, 3.0, 1.0]])
    assert distill_loss(t, t, 4.0).item() == pytest.approx(0.0, abs=1e-6)
    assert distill_loss(t.flip(1), t, 4.0).item() > 0.05
    assert distill_loss(t + 5.0, t, 4.0).item() == pytest.approx(0.0, abs=1e-5)  # shift-free


def test_a_holdout_word_list_from_a_file_is_kept_out(tmp_path):
    words = tmp_path / "holdout.txt"
    words.write_text("# kept for few-shot\nfence\nanvil\n")
    out = tmp_path / "m.safetensors"
    args = [a if a != "1" else str(words) for a in TINY]
    assert cli.main(["train-base", "--out", str(out), *args, "--epochs", "1"]) == 0
    assert load_net(out)[1]["holdout_words"] == ["anvil", "fence"]


def test_the_split_never_puts_one_drawing_on_both_sides():
    by_word, _ = dataset.word_files(BASE)
    split = dataset.Split(test_percent=40.0)
    items = dataset.load_word("apple", by_word["apple"])
    keys = [it.key for it in items]
    assert len(keys) == len(set(keys))  # each drawing once
    train, test = dataset.split_items(items, split)
    assert train and test and not {it.key for it in train} & {it.key for it in test}
    # thin/bitmap rows 0-7 are the 8 simplified drawings; rows 21 and 22 the 2 raw ones
    image_keys = {it.key for it in items if it.drawing is None}
    assert not image_keys & {f"apple#{i}" for i in [*range(8), 21, 22]}
    assert {"apple#8", "apple#20", "apple#23"} <= image_keys
    assert sum(it.source == "raw" for it in items) == 2
    # the side is a property of the drawing: the same whichever process or run asks
    assert [split.is_test(k) for k in keys] == [dataset.Split(40.0).is_test(k) for k in keys]
    assert dataset.Split(40.0, salt="other").is_test != split.is_test


def test_bitmap_rows_take_the_side_of_their_simplified_line():
    by_word, _ = dataset.word_files(BASE)
    files = by_word["apple"]
    items = dataset.load_word("apple", files)
    # a bitmap row whose drawing we hold as strokes is never an item of its own
    images = [it for it in items if it.source == "bitmap"]
    assert [it.key for it in images] == ["apple#8", "apple#9"]


def test_holdout_words_are_chosen_among_words_without_an_emoji():
    words = ["anvil", "fence", "bench", "pliers"]
    a = dataset.pick_holdout(words, 2, seed=0)
    assert a == dataset.pick_holdout(words, 2, seed=0) and len(a) == 2 and set(a) <= set(words)
    assert "bench" not in dataset.pick_holdout(words, 3, seed=0, avoid={"bench"})


@pytest.mark.slow
def _free_port() -> int:
    """A port no one listens on now (a fixed one can still be held by an earlier run)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_train_with_ddp(tmp_path):
    out = tmp_path / "ddp.safetensors"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={_free_port()}", "-m", "emojisketch", "train-base", "--out", str(out),
           *[a for a in TINY if a != "--quiet"], "--epochs", "2", "--teacher-epochs", "1"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2 process(es)" in done.stderr
    net, extra = load_net(out)
    assert extra["processes"] == 2 and extra["command"].startswith("torchrun --nproc_per_node=2")
    assert net.config.n_classes == 5 and np.isfinite(extra["history"][-1]["loss"])
    assert extra["teacher"] == str(out.with_suffix(".teacher.safetensors"))  # distilled too


def test_an_epoch_plan_keeps_drawings_of_a_class_together_when_asked():
    from emojisketch.train import _plan

    train = [(None, c) for c in range(5) for _ in range(9)]
    plain = _plan(train, 8, np.random.default_rng(0))
    grouped = _plan(train, 8, np.random.default_rng(0), group=4)
    for plan in (plain, grouped):  # at most 8 a class, each drawing once
        classes = [train[i][1] for i in plan]
        assert len(set(plan.tolist())) == len(plan) == 40
        assert all(classes.count(c) == 8 for c in range(5))
    runs = [[train[i][1] for i in grouped[j : j + 4]] for j in range(0, 40, 4)]
    assert all(len(set(r)) == 1 for r in runs)
    assert not all(len({train[i][1] for i in plain[j : j + 4]}) == 1 for j in range(0, 40, 4))


def test_a_net_with_the_1x1_widening_trains_and_loads_back(tmp_path):
    from emojisketch.model import load_model

    out = tmp_path / "wide.safetensors"
    args = [a for a in TINY]
    args[args.index("--epochs") + 1] = "1"
    assert cli.main(["train-base", "--out", str(out), *args, "--expand", "12"]) == 0
    net, extra = load_net(out)
    assert net.config.expand == 12 and net.expand.weight.shape == (12, 96, 1, 1)
    assert "--expand 12" in extra["command"]
    emb = load_model(out).embed(np.zeros((2, 28, 28), np.float32))
    assert emb.shape == (2, 128 + 12)  # the embedding, then the 12 pooled features


def test_several_teachers_answer_as_their_mean(trained, tmp_path):
    from emojisketch.train import Ensemble, _teacher

    words = load_net(trained)[1]["words"]
    one, two = _teacher(str(trained), words), _teacher(f"{trained},{trained}", words)
    assert isinstance(two, Ensemble) and len(two.nets) == 2
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(two(x), one(x))  # the mean of two equal answers
        other = load_net(trained)[0].eval()
        other.prototypes.mul_(-1.0)
        mixed = Ensemble([one, other])(x)
        torch.testing.assert_close(mixed, (one(x) + other(x)) / 2)
    out = tmp_path / "student.safetensors"
    assert cli.main(["train-base", "--out", str(out), *TINY, "--epochs", "1",
                     "--teacher", f"{trained},{trained}"]) == 0
    assert load_net(out)[1]["teacher"] == f"{trained},{trained}"


def test_a_run_ends_with_each_emojis_pooled_prototype_from_its_training_drawings(trained):
    from emojisketch.net import power_normalize

    net, extra = load_net(trained)
    assert net.config.pooled and net.pooled_prototypes.shape == (5, net.pooled_dim)
    for c, (word, train, _) in enumerate(dataset.recorded_split(BASE, extra["split"], extra["words"])):
        assert extra["words"][c] == word and train
        x = torch.from_numpy(np.stack([it.render() for it in train[:500]]))[:, None]
        with torch.no_grad():
            mean = power_normalize(net.pooled(x)).mean(0)
        torch.testing.assert_close(net.pooled_prototypes[c], mean / mean.norm(), atol=1e-5, rtol=0)


def test_pooled_prototypes_command_measures_what_training_measures(trained, tmp_path, capsys):
    out = tmp_path / "again.safetensors"
    assert cli.main(["pooled-prototypes", "--data", str(BASE), "--model", str(trained),
                     "--out", str(out)]) == 0
    assert "pooled prototypes of 5 emoji" in capsys.readouterr().out
    (net, extra), (again, extra2) = load_net(trained), load_net(out)
    torch.testing.assert_close(again.pooled_prototypes, net.pooled_prototypes, atol=1e-6, rtol=0)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in again.state_dict().items()
               if k != "pooled_prototypes")
    assert extra2["pooled"]["command"].startswith("emojisketch pooled-prototypes")
    assert extra2["command"] == extra["command"]  # the training record is kept
    # a folder without one of the emoji's words is a plain error, and nothing is written
    assert cli.main(["pooled-prototypes", "--data", str(BASE / "bitmap"), "--model", str(trained),
                     "--out", str(tmp_path / "none.safetensors")]) == 1
    assert "no training drawings of" in capsys.readouterr().err
    assert not (tmp_path / "none.safetensors").exists()


def test_class_batches_of_the_first_drawings_of_each_class_up_to_the_cap():
    items = [dataset.Item("w", str(i), image=np.full((28, 28), i, np.uint8)) for i in range(7)]
    pairs = [(items[i], c) for i, c in enumerate([0, 1, 0, 0, 1, 2, 0])]
    batches = list(dataset.class_batches(dataset.first_per_class(pairs, 2), batch=3))
    assert [len(y) for _, y in batches] == [3, 2]
    ys = torch.cat([y for _, y in batches]).tolist()
    firsts = [float(x[0, 0, 0]) * 255 for xb, _ in batches for x in xb]
    assert ys == [0, 1, 0, 1, 2] and [round(v) for v in firsts] == [0, 1, 2, 4, 5]


def test_without_pooled_the_saved_net_compares_its_embedding_alone(tmp_path):
    out = tmp_path / "plain.safetensors"
    args = list(TINY)
    args[args.index("--epochs") + 1] = "1"
    assert cli.main(["train-base", "--out", str(out), *args, "--no-pooled"]) == 0
    net, extra = load_net(out)
    assert not net.config.pooled and "--no-pooled" in extra["command"]
    assert not hasattr(net, "pooled_prototypes")


def test_the_quick_fewshot_figure_ranks_the_features_the_classifiers_compare():
    # Embeddings that say nothing (all the same) beside features that tell the words apart:
    # the figure follows the features, as the app's k-NN does.
    from emojisketch.net import DrawingNet, NetConfig
    from emojisketch.training import quick_fewshot

    net = DrawingNet(NetConfig(channels=(4, 4, 4), n_classes=2, pooled=True))
    images = {w: torch.full((8, 1, 28, 28), float(i)) for i, w in enumerate("abcde")}
    net.embed = lambda x: torch.nn.functional.normalize(torch.ones(len(x), 4), dim=1)
    net.features = lambda x: torch.nn.functional.one_hot(x[:, 0, 0, 0].long(), 5).float()
    assert quick_fewshot(net, images, ways=5, shots=3, episodes=20) == 1.0


def test_rotation_turns_a_share_of_drawings_by_quarter_turns_and_says_which():
    from emojisketch.training import rotate_share
    x = torch.rand(400, 1, 28, 28)
    turned, turns = rotate_share(x, 0.25, torch.Generator().manual_seed(0))
    assert 0.15 < (turns > 0).float().mean() < 0.35 and set(turns.tolist()) == {0, 1, 2, 3}
    for i in range(len(x)):
        assert torch.equal(turned[i], torch.rot90(x[i], int(turns[i]), dims=(1, 2)))


def test_a_run_with_the_rotation_task_and_rubbed_out_ink_trains_and_tests_when_asked(tmp_path):
    out = tmp_path / "rot.safetensors"
    assert cli.main(["train-base", "--out", str(out), *TINY, "--epochs", "3", "--rotation", "1",
                     "--image-erase", "0.5", "--test-every", "2"]) == 0
    net, extra = load_net(out)
    assert "--rotation 1" in extra["command"] and "--image-erase 0.5" in extra["command"]
    tested = ["test_top1" in h for h in extra["history"]]
    assert tested == [False, True, True]  # every second epoch, and always the last
    # the rotation head is thrown away: the saved net is an ordinary one
    assert not any("rotation" in k for k in net.state_dict())
    assert cli.main(["train-base", "--out", str(tmp_path / "x.safetensors"), *TINY,
                     "--rotation", "1", "--mixup", "0.4"]) != 0


def test_testing_less_often_leaves_the_trained_weights_exactly_as_they_were(trained, tmp_path):
    out = tmp_path / "sparse.safetensors"
    assert cli.main(["train-base", "--out", str(out), *TINY, "--test-every", "3"]) == 0
    every, sparse = load_net(trained), load_net(out)
    assert [("test_top1" in h) for h in sparse[1]["history"]] == [False, False, True, True]
    assert sparse[1]["figures"]["test_top1"] == every[1]["figures"]["test_top1"]
    a, b = every[0].state_dict(), sparse[0].state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
