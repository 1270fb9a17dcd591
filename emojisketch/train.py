"""``emojisketch train-base``: train the base drawing model on Quick, Draw! files.

    emojisketch train-base --data ../shared/data --out models/base.safetensors \
        --expand 256 --teacher-epochs 20 --epochs 20 --flip 0.5   # one command, both widened

(the shipped model's own chain of runs and their figures: models/README.md).

The net (:mod:`emojisketch.net`) learns a unit embedding with a cosine head over every
training category, with an additive margin (CosFace: the true class's logit is
``s * (cos - m)``), which packs the drawings of a category around its prototype: the property
nearest-neighbour personalization needs (losses and measures: :mod:`emojisketch.training`).
Only the categories with an emoji keep their row of the head in the saved model.

Data (:mod:`emojisketch.dataset`): at most ``--cap-per-word`` drawings a file are read, so all
of Google's 50M drawings can be given; the split is by drawing; ``--holdout-words``
categories (without an emoji) are never read, for the few-shot evaluation. Each epoch takes at
most ``--epoch-cap`` drawings a category, chosen anew, so the nine categories with 3,000
bitmaps do not drown those with 100. Strokes are augmented and re-rendered every epoch
(:mod:`emojisketch.augment`), in DataLoader workers; images are augmented in batches;
``--flip`` mirrors a share of all drawings.

Distillation: with ``--teacher FILE``, or ``--teacher-epochs N`` (train a teacher for N
epochs first, in the same command), the teacher's softened answers join the loss; this
"born again" second generation gave the shipped model its best few-shot figures.
``--mirror-tied`` trains a net that is mirror-invariant by construction
(:mod:`emojisketch.net_mirror`), saved as an ordinary one. Tried and kept as options, off by
default (figures in models/README.md): ``--rotation`` (a self-supervised head that tells how
far a share of the drawings was turned), ``--image-erase`` (a disc of ink rubbed out of
image-only drawings), ``--mixup``, ``--supcon``. ``--test-every N`` measures the held-out
split less often; the weights do not change.

The saved net's features carry the pooled features beside the embedding (``NetConfig.pooled``,
:meth:`emojisketch.net.DrawingNet.features`; ``--no-pooled`` leaves them out): at the end of
a run each emoji's pooled prototype is measured on its training drawings
(:func:`emojisketch.training.with_pooled_features`), as ``emojisketch pooled-prototypes`` does
for a net trained before.

Scales past one machine: under ``torchrun --nproc_per_node=N -m emojisketch train-base``
each process reads only its share of the categories (files), and DistributedDataParallel
(gloo on CPU) averages the gradients. Batch norm then normalises each process's batches over
its own categories; the statistics are averaged over the processes at the end.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from . import dataset, emojis, quickdraw
from .augment import ImageAug, StrokeAug, augment_images, scaled
from .checkpoint import BASE_MODEL, load_net, save_net
from .errors import DataFormatError, EmojisketchError
from .net import DrawingNet, NetConfig
from .net_mirror import MirrorNet
from .training import (BothHeads, all_sum, base_accuracy, cosface_loss, distill_loss,
                       quick_fewshot, recalibrate_bn, rotate_share, supcon_loss,
                       with_pooled_features)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="a folder (or file) of Quick, Draw! data")
    p.add_argument("--out", default=str(BASE_MODEL), help="where to write the model")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--holdout-words", default="40",
                   help="a file of words (one a line), or N: N words without an emoji chosen "
                        "with --seed; never trained on, kept for the few-shot evaluation")
    p.add_argument("--test-percent", type=float, default=15.0, help="drawings held out")
    p.add_argument("--cap-per-word", type=int, default=3000, help="drawings read a file")
    p.add_argument("--epoch-cap", type=int, default=120, help="drawings a category an epoch")
    p.add_argument("--batch-size", type=int, default=128, help="per process")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--margin", type=float, default=0.2, help="CosFace additive margin")
    p.add_argument("--supcon", type=float, default=0.0, help="weight of the contrastive loss")
    p.add_argument("--group", type=int, default=1,
                   help="drawings of one category that sit together in a batch (pairs for --supcon)")
    p.add_argument("--mixup", type=float, default=0.0,
                   help="mixup's Beta(a, a) parameter a (0: no mixup)")
    p.add_argument("--stroke-aug", type=float, default=1.0,
                   help="strength of the stroke augmentation (0: none, 1: the defaults)")
    p.add_argument("--flip", type=float, default=0.0,
                   help="chance to mirror a drawing left to right (a doodle means the same)")
    p.add_argument("--teacher", default="", help="a trained base model to distil from (its "
                   "head's soft answers over the emoji categories join the loss); several, "
                   "comma-separated: their averaged logits (an ensemble)")
    p.add_argument("--teacher-epochs", type=int, default=0,
                   help="first train a teacher this long (same options, written beside --out "
                   "as .teacher.safetensors), then distil from it")
    p.add_argument("--distill", type=float, default=1.0, help="weight of the teacher's loss")
    p.add_argument("--distill-temp", type=float, default=4.0, help="softmax temperature")
    p.add_argument("--rotation", type=float, default=0.0,
                   help="weight of a self-supervised loss: a share of the drawings is turned "
                        "by quarter turns and a head beside the net tells which (0: none)")
    p.add_argument("--rotation-share", type=float, default=0.25,
                   help="share of the drawings turned for --rotation (they train only it)")
    p.add_argument("--image-erase", type=float, default=0.0,
                   help="chance to rub out a disc of an image-only drawing's ink (as a dropped "
                        "stroke does to strokes)")
    p.add_argument("--test-every", type=int, default=1,
                   help="measure the held-out split every N epochs (always after the last)")
    p.add_argument("--image-elastic", type=float, default=0.0,
                   help="pixels of smooth elastic warp for image-only drawings")
    p.add_argument("--channels", default="24,48,96", help="output channels of the 3 blocks")
    p.add_argument("--expand", type=int, default=0,
                   help="channels of a 1x1 convolution widening the last block (0: none)")
    p.add_argument("--mirror-tied", action="store_true",
                   help="tie the weights in mirror pairs, so that a drawing and its mirror image "
                        "get the same embedding exactly (emojisketch/net_mirror.py); saved as "
                        "an ordinary net")
    p.add_argument("--embed-dim", type=int, default=128)
    p.add_argument("--no-pooled", action="store_true",
                   help="leave the pooled features out of what personalization compares "
                        "(emojisketch.net.DrawingNet.features)")
    p.add_argument("--pooled-per-class", type=int, default=500,
                   help="training drawings an emoji for its pooled prototype")
    p.add_argument("--scale", type=float, default=16.0, help="cosine logit scale")
    p.add_argument("--workers", type=int, default=1, help="DataLoader processes (rendering)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads a process (0: the cores this process may use, shared "
                        "out among the processes; on 2 cores, 2 threads beside the rendering "
                        "worker made an epoch about 1.3x faster than 1)")
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                   help="compute type of the training steps (auto: bf16 where the CPU has it; "
                        "weights stay fp32)")
    p.add_argument("--max-words", type=int, default=0, help="only the first N words (tests)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


# -- the run ----------------------------------------------------------------------------------

def _ddp() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _words(args, by_word: dict) -> tuple[list[str], list[str], list[str]]:
    """(emoji words in the table's order, other training words, held-out words)."""
    table = emojis.category_emoji()
    words = sorted(by_word)[: args.max_words or None]
    if Path(args.holdout_words).is_file():
        holdout = dataset.parse_word_list(Path(args.holdout_words).read_text(encoding="utf-8"))
    else:
        try:
            n = int(args.holdout_words)
        except ValueError:
            raise DataFormatError(f"--holdout-words {args.holdout_words}: no such file, "
                                  "and not a number") from None
        bitmaps = {w for w in words if by_word[w].bitmap}  # too rich to leave out first
        holdout = dataset.pick_holdout([w for w in words if w not in table], n, args.seed, bitmaps)
    emoji_words = [w for w in table if w in words and w not in holdout]
    others = [w for w in words if w not in table and w not in holdout]
    return emoji_words, others, sorted(holdout)


def _shard(words: list[str], by_word: dict, world: int) -> list[set[str]]:
    """The words each process reads: dealt in turn from the biggest files down, so that every
    process gets its share of the rich categories (batch norm sees alike batches everywhere)."""
    def size(w):
        f = by_word[w]
        return sum(p.stat().st_size for p in f.simplified + f.raw + f.bitmap + f.thin)

    shards: list[set[str]] = [set() for _ in range(world)]
    for i, w in enumerate(sorted(words, key=lambda w: (-size(w), w))):
        shards[i % world].add(w)
    return shards


def _plan(train: list, epoch_cap: int, rng: np.random.Generator, group: int = 1) -> np.ndarray:
    """This epoch's drawings: at most ``epoch_cap`` a class, chosen anew, shuffled; with
    ``group`` > 1 in runs of that many drawings of one class (a batch then holds pairs of
    the same class, which the contrastive loss learns from)."""
    by_class: dict[int, list[int]] = {}
    for i, (_, c) in enumerate(train):
        by_class.setdefault(c, []).append(i)
    picks = [rng.permutation(idx)[:epoch_cap] for idx in by_class.values()]
    if not picks:
        return np.zeros(0, dtype=np.int64)
    if group <= 1:
        return rng.permutation(np.concatenate(picks))
    runs = [p[i : i + group] for p in picks for i in range(0, len(p), group)]
    return np.concatenate([runs[i] for i in rng.permutation(len(runs))])


def _batches(train: list, args, rng: np.random.Generator, steps: int, seed: tuple):
    """``steps`` augmented training batches (x, y): strokes re-drawn and rendered in the
    DataLoader's workers, images warped here in one batched call."""
    plan = _plan(train, args.epoch_cap, rng, args.group)[: steps * args.batch_size]
    data = dataset.EpochImages([train[i] for i in plan], seed=seed,
                               aug=scaled(StrokeAug(), args.stroke_aug))
    loader = torch.utils.data.DataLoader(data, batch_size=args.batch_size,
                                         num_workers=args.workers)
    gen = torch.Generator().manual_seed(int(np.random.SeedSequence(seed).generate_state(1)[0]))
    image_aug = ImageAug(elastic=args.image_elastic, p_erase=args.image_erase)
    for x, y, is_image in loader:
        if is_image.any():
            x[is_image] = augment_images(x[is_image], gen, image_aug)
        if args.flip > 0:
            mirror = torch.rand(len(x), generator=gen) < args.flip
            x[mirror] = x[mirror].flip(-1)
        yield x.contiguous(memory_format=torch.channels_last), y


class Progress:
    """A plain-text progress bar on stderr (one line an update when not a terminal)."""

    def __init__(self, enabled: bool):
        self.enabled, self.tty, self.last = enabled, sys.stderr.isatty(), -1

    def bar(self, epoch, epochs, step, steps, loss, acc):
        tenth = step * 10 // steps
        if not self.enabled or (not self.tty and tenth == self.last):
            return
        self.last = tenth
        fill = "#" * (step * 20 // steps)
        end = "\r" if self.tty else "\n"
        print(f"epoch {epoch + 1}/{epochs} [{fill:<20}] {step}/{steps} loss {loss:.3f} "
              f"acc {acc:.3f}", end=end, file=sys.stderr, flush=True)

    def line(self, text: str):
        if self.enabled:
            print(("\n" if self.tty else "") + text, file=sys.stderr, flush=True)
            self.last = -1


def _threads(requested: int, world: int) -> int:
    if requested > 0:
        return requested
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // world)


def _channels(args) -> tuple[int, ...]:
    return tuple(int(c) for c in args.channels.split(","))


def run(args: argparse.Namespace) -> int:
    if args.mirror_tied and any(w % 2 for w in _channels(args) + (args.expand,)):
        raise EmojisketchError("--mirror-tied pairs the channels: give --channels and --expand "
                               "even numbers")
    if args.rotation > 0 and args.mixup > 0:
        raise EmojisketchError("--rotation and --mixup do not go together")
    if args.test_every < 1:
        raise EmojisketchError("--test-every must be at least 1")
    rank, world = _ddp()
    before = torch.get_num_threads()  # given back: a caller in this process keeps its own
    torch.set_num_threads(_threads(args.threads, world))
    try:
        started = time.time()
        data = _read(args, rank, world)
        teacher, teacher_file = None, args.teacher or None
        if teacher_file:
            teacher = _teacher(teacher_file, data.emoji_words)
        if args.teacher_epochs > 0:  # born again: a teacher first, then a student distils from it
            teacher_file = str(Path(args.out).with_suffix(".teacher.safetensors"))
            # kept in memory with its head over every category (the file's knows only the emoji)
            teacher = _one_run(args, data, rank, world, started, args.teacher_epochs,
                               teacher_file, None, None)
        _one_run(args, data, rank, world, started, args.epochs, args.out, teacher, teacher_file)
    finally:
        torch.set_num_threads(before)
    if world > 1:
        dist.destroy_process_group()
    return 0


@dataclass
class _Data:
    """What one process trains and tests on, read once for every generation of a run."""

    by_word: dict
    holdout: list[str]
    emoji_words: list[str]
    words: list[str]  # emoji words, then the other training words: the head's classes
    split: dataset.Split
    train: list  # (item, class)
    test_x: torch.Tensor | None  # (N, 1, 28, 28) test renders of this process's share
    test_y: torch.Tensor


def _read(args, rank: int, world: int) -> _Data:
    by_word, skipped = dataset.word_files(args.data)
    if not by_word:
        raise DataFormatError(f"{args.data}: no Quick, Draw! files named after their word")
    emoji_words, others, holdout = _words(args, by_word)
    if not emoji_words:
        raise DataFormatError(f"{args.data}: no category here has an emoji")
    words = emoji_words + others
    split = dataset.Split(args.test_percent)
    train, test = [], []
    mine = _shard(words, by_word, world)[rank]
    for c, w in enumerate(words):
        if w in mine:  # each process reads only its share of the files
            tr, te = dataset.split_items(dataset.load_word(w, by_word[w], args.cap_per_word), split)
            train += [(it, c) for it in tr]
            test += [(it, c) for it in te]
    if world > 1 and not args.quiet:
        print(f"process {rank}: read {len(mine)} categories ({', '.join(sorted(mine)[:3])}...): "
              f"{len(train)} training, {len(test)} test drawings", file=sys.stderr, flush=True)
    n_train, n_test = all_sum([len(train), len(test)], world)
    Progress(enabled=rank == 0 and not args.quiet).line(
        f"{len(words)} categories ({len(emoji_words)} with an emoji), {len(holdout)} held "
        f"out; {int(n_train)} training and {int(n_test)} test drawings; {world} process(es)"
        + (f"; skipped {len(skipped)} file(s) not named after a word" if skipped else ""))
    test_x = torch.from_numpy(np.stack([it.render() for it, _ in test]))[:, None] if test else None
    test_y = torch.tensor([c for _, c in test], dtype=torch.long)
    return _Data(by_word, holdout, emoji_words, words, split, train, test_x, test_y)


def _one_run(args, data: _Data, rank: int, world: int, started: float, epochs: int, out: str,
             teacher: nn.Module | None, teacher_file: str | None) -> DrawingNet | MirrorNet:
    """Train one net for ``epochs`` and save it; distil from ``teacher`` if given
    (``teacher_file`` is recorded as where it came from). Returns the net with its head over
    every category."""
    torch.manual_seed(args.seed)
    emoji_words, words, train = data.emoji_words, data.words, data.train
    test_x, test_y = data.test_x, data.test_y
    log = Progress(enabled=rank == 0 and not args.quiet)

    config = NetConfig(channels=_channels(args),
                       expand=args.expand, embed_dim=args.embed_dim, n_classes=len(words),
                       scale=args.scale)
    # channels-last (NHWC): oneDNN's faster layout on CPU, about 20% a step here (same maths).
    net = (MirrorNet if args.mirror_tied else DrawingNet)(config).to(memory_format=torch.channels_last)
    model = BothHeads(net, rotation=args.rotation > 0)
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    rng = np.random.default_rng(args.seed + 1000 * rank)
    steps = torch.tensor([len(_plan(train, args.epoch_cap, np.random.default_rng(0))) // args.batch_size])
    if world > 1:  # every process must take the same number of steps: the fewest any can
        dist.all_reduce(steps, op=dist.ReduceOp.MIN)
    steps = int(steps)
    if steps < 1:
        raise DataFormatError("too few training drawings for one batch: lower --batch-size")
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, pct_start=0.1,
                                                total_steps=steps * epochs)
    # bf16 on CPUs that have it: about 2.5x faster steps here (AVX-512 BF16), same accuracy.
    bf16 = args.precision == "bf16" or (args.precision == "auto"
                                        and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    turn_gen = torch.Generator().manual_seed(args.seed + 1000 * rank)
    history = []
    for epoch in range(epochs):
        t0 = time.time()
        model.train()
        sums = np.zeros(3)
        for step, (x, y) in enumerate(_batches(train, args, rng, steps, (args.seed, epoch, rank))):
            lam, partner = 1.0, torch.arange(len(y))
            if args.mixup > 0:  # drawings laid over each other, the loss shared as they are
                lam = float(rng.beta(args.mixup, args.mixup))
                partner = torch.from_numpy(rng.permutation(len(y)))
                x = lam * x + (1 - lam) * x[partner]
            if args.rotation > 0:
                x, turns = rotate_share(x, args.rotation_share, turn_gen)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                emb, logits, turn_logits = model(x)
            emb, logits = emb.float(), logits.float()
            if turn_logits is not None:  # turned drawings teach only the rotation head
                upright = turns == 0
                x, y, emb, logits = x[upright], y[upright], emb[upright], logits[upright]
            loss = cosface_loss(logits, y, args.scale, args.margin)
            if lam < 1.0:
                loss = lam * loss + (1 - lam) * cosface_loss(logits, y[partner], args.scale,
                                                             args.margin)
            if args.supcon > 0:
                loss = loss + args.supcon * supcon_loss(emb, y)
            if teacher is not None:
                with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    soft = teacher(x).float()
                loss = loss + args.distill * distill_loss(logits[:, : soft.shape[1]], soft,
                                                          args.distill_temp)
            if turn_logits is not None:
                loss = loss + args.rotation * F.cross_entropy(turn_logits.float(), turns)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            sums += [loss.item() * len(y), (logits.argmax(1) == y).sum().item(), len(y)]
            log.bar(epoch, epochs, step + 1, steps, sums[0] / sums[2], sums[1] / sums[2])
        tested = (epoch + 1) % args.test_every == 0 or epoch + 1 == epochs
        figures = base_accuracy(net, test_x, test_y, len(emoji_words), world) if tested else {}
        history.append({"epoch": epoch + 1, "loss": round(sums[0] / sums[2], 4),
                        "train_acc": round(sums[1] / sums[2], 4),
                        **{k: round(v, 4) for k, v in figures.items()},
                        "seconds": round(time.time() - t0, 1)})
        log.line(" ".join(f"{k} {v}" for k, v in history[-1].items()))
    n_recal = max(1, min(steps, 4096 // args.batch_size))
    recalibrate_bn(net, (x for x, _ in _batches(train, args, rng, n_recal, (args.seed, epochs, rank))),
                   world)
    if test_x is not None or world > 1:
        final = base_accuracy(net, test_x, test_y, len(emoji_words), world)
        history[-1].update({k: round(v, 4) for k, v in final.items()}, bn_recalibrated=True)
        log.line("after batch-norm recalibration: " + " ".join(f"{k} {v:.4f}" for k, v in final.items()))
    shipped = _shipped(net, emoji_words)
    if not args.no_pooled:  # every process measures its own categories
        n = len(emoji_words)
        pairs = dataset.first_per_class([(it, c) for it, c in train if c < n], args.pooled_per_class)
        shipped = with_pooled_features(shipped, dataset.class_batches(pairs), world)
    if rank == 0:
        extra = _extra(args, shipped, data.by_word, data.holdout, data.split, history,
                       time.time() - started, world)
        extra["words"] = emoji_words  # the word of each label of the head, in order
        log.line(f"few-shot (nearest centroid, held-out words): {extra['figures']['quick_fewshot']}")
        extra["teacher"] = teacher_file
        save_net(shipped, out, extra)
        log.line(f"wrote {out} in {extra['duration_s']:.0f} s")
    if world > 1:
        dist.barrier()  # every file is written before any process goes on
    return net.eval()


class Ensemble(nn.Module):
    """Several trained nets answering as one: the mean of their logits."""

    def __init__(self, nets: list[DrawingNet]):
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([net(x) for net in self.nets]).mean(0)


def _teacher(paths: str, emoji_words: list[str]) -> nn.Module:
    """Trained base nets (comma-separated files) whose heads answer over these emoji words,
    in this order; several answer as their ensemble."""
    nets = []
    for path in [p for p in paths.split(",") if p]:
        net, extra = load_net(path)
        if extra.get("words") != emoji_words:
            raise DataFormatError(f"--teacher {path}: its head is not over this run's emoji words")
        nets.append(net.eval().requires_grad_(False).to(memory_format=torch.channels_last))
    return nets[0] if len(nets) == 1 else Ensemble(nets).eval()


def _shipped(net: DrawingNet, emoji_words: list[str]) -> DrawingNet:
    """The net with a head over the emoji categories only, labelled with their emoji."""
    if isinstance(net, MirrorNet):
        net = net.to_plain()
    table = emojis.category_emoji()
    cfg = NetConfig.from_dict(net.config.to_dict())
    cfg.n_classes, cfg.labels = len(emoji_words), [table[w] for w in emoji_words]
    out = DrawingNet(cfg)
    state = dict(net.state_dict(), prototypes=net.prototypes.detach()[: len(emoji_words)])
    out.load_state_dict(state)
    return out.eval()


def _options(args) -> str:
    """Every option of this run, spelled out: the command that repeats it."""
    parts = []
    for key, value in vars(args).items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            parts += [flag] if value else []
        else:
            parts += [flag, shlex.quote(str(value))]
    return " ".join(parts)


def _extra(args, net, by_word, holdout, split, history, duration, world) -> dict:
    fewshot = {}
    held = {}
    for w in holdout:
        if w in by_word:
            items = dataset.load_word(w, by_word[w], args.cap_per_word)
            held[w] = torch.from_numpy(np.stack([it.render() for it in items]))[:, None]
    for ways in (5, 20):
        acc = quick_fewshot(net, held, ways, 3, episodes=1000, seed=args.seed)
        fewshot[f"{ways}way_3shot"] = None if np.isnan(acc) else round(acc, 4)
    prefix = f"torchrun --nproc_per_node={world} -m emojisketch" if world > 1 else "emojisketch"
    return {
        "credit": quickdraw.CREDIT,
        "holdout_words": holdout,
        "split": dict(split.to_dict(), cap_per_word=args.cap_per_word),
        "command": f"{prefix} train-base {_options(args)}",
        "duration_s": round(duration, 1),
        "processes": world,
        "figures": {**{k: v for k, v in history[-1].items() if k.startswith("test_")},
                    "quick_fewshot": fewshot},
        "history": history,
    }
