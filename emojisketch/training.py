"""The parts of base-model training that are not the command: losses, the measures taken
during and after training, and batch-norm recalibration.

* :func:`cosface_loss`: cross-entropy on cosine logits with an additive margin (CosFace);
  :func:`supcon_loss`: supervised contrastive loss on the unit embeddings;
  :func:`distill_loss`: knowledge distillation from a trained teacher's logits.
* :func:`base_accuracy`: top-1/top-3 of the head over the emoji classes on the test drawings
  (summed over processes); :func:`quick_fewshot`: nearest-centroid N-way K-shot accuracy on
  the embeddings of words never trained on.
* :func:`recalibrate_bn`: batch-norm statistics measured afresh with the final weights.
* :func:`pooled_prototypes`: each base emoji's place among the pooled features
  (:attr:`DrawingNet.pooled_prototypes`), measured on its training drawings.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from .net import DrawingNet, NetConfig, power_normalize


def all_sum(values: list[float], world: int) -> list[float]:
    """Element-wise sum over the processes (the values themselves with one process)."""
    if world == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


# -- losses ---------------------------------------------------------------------------------

def cosface_loss(logits: torch.Tensor, y: torch.Tensor, scale: float, margin: float):
    """Cross-entropy on ``scale * cos`` logits with ``scale * margin`` taken off the true class."""
    return F.cross_entropy(logits - scale * margin * F.one_hot(y, logits.shape[1]), y)


def supcon_loss(z: torch.Tensor, y: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020) on unit embeddings (B, D)."""
    sim = z @ z.T / temperature
    self_mask = torch.eye(len(y), dtype=torch.bool)
    sim = sim.masked_fill(self_mask, -1e9)
    pos = (y[:, None] == y[None, :]) & ~self_mask
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    n_pos = pos.sum(1)
    has = n_pos > 0
    if not has.any():
        return z.sum() * 0.0
    return -((log_prob * pos).sum(1)[has] / n_pos[has]).mean()


def distill_loss(logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float):
    """Knowledge distillation (Hinton et al. 2015): KL from the teacher's softened answers,
    times T^2 so that its gradients keep their size whatever the temperature."""
    t = temperature
    return F.kl_div(F.log_softmax(logits / t, dim=1), F.log_softmax(teacher_logits / t, dim=1),
                    reduction="batchmean", log_target=True) * t * t


class BothHeads(nn.Module):
    """The net, answering embeddings and logits in one forward (what DDP must wrap), and with
    ``rotation`` the logits of a 4-way head that tells how far a drawing was turned (0, 90,
    180 or 270 degrees; :func:`rotate_share`), trained beside it and thrown away after."""

    def __init__(self, net: DrawingNet, rotation: bool = False):
        super().__init__()
        self.net = net
        self.rotation = nn.Linear(net.config.embed_dim, 4) if rotation else None

    def forward(self, x):
        emb = self.net.embed(x)  # (B, D)
        logits = emb @ self.net.head_weights().T  # (B, n_classes)
        if self.rotation is None:
            return emb, logits, None
        return emb, logits, self.rotation(emb * self.net.config.scale)


def rotate_share(x: torch.Tensor, share: float, gen: torch.Generator):
    """(x with about ``share`` of its drawings turned by 90, 180 or 270 degrees, the quarter
    turns of each (B,)): the self-supervised task of Gidaris et al. (2019), which asks the
    net for the shapes' orientation as well as their class."""
    turns = torch.randint(1, 4, (len(x),), generator=gen)
    turns = torch.where(torch.rand(len(x), generator=gen) < share, turns, torch.zeros_like(turns))
    x = x.clone()
    for k in (1, 2, 3):
        pick = turns == k
        if pick.any():
            x[pick] = torch.rot90(x[pick], k, dims=(2, 3))
    return x, turns


# -- measuring --------------------------------------------------------------------------------

@torch.no_grad()
def embed_all(net: DrawingNet, images: torch.Tensor, batch: int = 512,
              features: bool = False) -> torch.Tensor:
    """Unit embeddings of ``images``, or with ``features`` what the classifiers compare
    (:meth:`DrawingNet.features`: the pooled features beside the embedding where the net has
    them)."""
    net.eval()
    f = net.features if features else net.embed
    return torch.cat([f(images[i:i + batch]) for i in range(0, len(images), batch)])


def base_accuracy(net: DrawingNet, images, labels, n_emoji: int, world: int) -> dict:
    """top-1 / top-3 of the head restricted to the emoji classes on the test drawings, and
    top-1 averaged over classes (the nine bitmap categories have 30 times more drawings)."""
    hits1, hits3, count = torch.zeros(n_emoji), torch.zeros(n_emoji), torch.zeros(n_emoji)
    keep = labels < n_emoji if images is not None else None
    if keep is not None and keep.any():
        emb = embed_all(net, images[keep])
        top3 = (emb @ net.head_weights()[:n_emoji].T).topk(min(3, n_emoji), dim=1).indices
        y = labels[keep]
        ones = torch.ones(len(y))
        hits1.index_add_(0, y, (top3[:, 0] == y).float())
        hits3.index_add_(0, y, (top3 == y[:, None]).any(1).float())
        count.index_add_(0, y, ones)
    if world > 1:
        for t in (hits1, hits3, count):
            dist.all_reduce(t)
    n = max(float(count.sum()), 1.0)
    seen = count > 0
    macro = float((hits1[seen] / count[seen]).mean()) if seen.any() else 0.0
    return {"test_top1": float(hits1.sum()) / n, "test_top3": float(hits3.sum()) / n,
            "test_macro_top1": macro}


def quick_fewshot(net: DrawingNet, images: dict[str, torch.Tensor], ways: int, shots: int,
                  queries: int = 5, episodes: int = 200, seed: int = 0) -> float:
    """Nearest-centroid n-way accuracy on words the net never saw, over the features the app's
    classifiers compare (:meth:`DrawingNet.features`)."""
    emb = {w: embed_all(net, x, features=True) for w, x in images.items()
           if len(x) >= shots + queries}
    words = sorted(emb)
    if len(words) < ways:
        return float("nan")
    rng = np.random.default_rng(seed)
    right = total = 0
    for _ in range(episodes):
        chosen = rng.choice(len(words), ways, replace=False)
        cents, qs = [], []
        for w in chosen:
            e = emb[words[w]][rng.permutation(len(emb[words[w]]))[: shots + queries]]
            cents.append(F.normalize(e[:shots].mean(0), dim=0))
            qs.append(e[shots:])
        pred = (torch.cat(qs) @ torch.stack(cents).T).argmax(1)
        right += int((pred == torch.arange(ways).repeat_interleave(queries)).sum())
        total += ways * queries
    return right / total


@torch.no_grad()
def recalibrate_bn(net: DrawingNet, batches, world: int):
    """Batch-norm statistics measured afresh with the final weights, as a plain average over
    training batches (drawn and augmented as in training): the moving averages of a short
    run lag behind the weights."""
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # a cumulative average over every batch seen
    net.train()
    for x in batches:
        net.embed(x)
    for bn in bns:
        bn.momentum = 0.1
        if world > 1:
            for buf in (bn.running_mean, bn.running_var):
                dist.all_reduce(buf)
                buf /= world
    net.eval()


def pooled_prototypes(net: DrawingNet, batches, n_classes: int, world: int = 1) -> torch.Tensor:
    """(n_classes, C): per class, the unit mean of the power-normalised pooled features over
    ``batches`` of (images (B, 1, 28, 28), classes (B,)), summed over the processes first.
    A class without drawings gets zeros."""
    sums = torch.zeros(n_classes, net.pooled_dim, dtype=torch.float64)
    net.eval()
    with torch.no_grad():
        for x, y in batches:
            sums.index_add_(0, y, power_normalize(net.pooled(x)).double())
    if world > 1:
        dist.all_reduce(sums)
    return F.normalize(sums, dim=1).float()


def with_pooled_features(net: DrawingNet, batches, world: int = 1) -> DrawingNet:
    """A copy of a trained base net (eval mode) whose features carry the pooled features too,
    with each base emoji's pooled prototype measured on ``batches`` (see
    :func:`pooled_prototypes`; classes index the net's head)."""
    config = NetConfig.from_dict(dict(net.config.to_dict(), pooled=True))
    out = DrawingNet(config)
    state = dict(net.state_dict(), pooled_prototypes=out.pooled_prototypes)
    out.load_state_dict(state)
    out.eval()
    out.pooled_prototypes.copy_(pooled_prototypes(out, batches, config.n_classes, world))
    return out
