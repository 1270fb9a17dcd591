"""A mirror-invariant way to train :class:`~emojisketch.net.DrawingNet`: tied weights.

A doodle means the same mirrored left to right, and averaging a drawing's embedding with its
mirror image's helped the few-shot figures, at twice the network's cost per drawing. This
parametrisation builds that invariance into the weights instead, at no cost when predicting:
every layer's channels come in mirror pairs (the first half "A", the second half "B"), and the
weights are tied so that mirroring the input swaps A with B and mirrors each feature map.
With ``F`` a left-right flip of a kernel, a 3x3 convolution from channels (A, B) to (A, B) has
the weight ``[[W1, W2], [F W2, F W1]]`` (the first layer, from the one grey channel, has
``[W1, F W1]``); each pair shares its batch-norm statistics and affine parameters; 2x2 max
pooling of an even-sided map and zero padding are symmetric already. After global average
pooling the pair's features are swapped, and the final linear layer, tied as ``[P, P]``, sums
them: ``embed(mirror(x)) == embed(x)`` exactly.

It trains with half the free weights of the same net and the same multiply-adds.
:meth:`MirrorNet.to_plain` writes the full weights into an ordinary ``DrawingNet``, which is
what is saved, exported to Core ML and run by the app: nothing downstream knows the difference.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .net import DrawingNet, NetConfig


def _halves(c_out: int, c_in: int, k: int, first: bool):
    """The free halves of a tied weight, initialised as ``nn.Conv2d`` would the full one."""
    full = nn.Conv2d(c_in, c_out, k, bias=False).weight.detach()
    n = c_out // 2
    if first:
        return nn.Parameter(full[:n].clone()), None
    m = c_in // 2
    return nn.Parameter(full[:n, :m].clone()), nn.Parameter(full[:n, m:].clone())


class TiedConv(nn.Module):
    """A bias-free convolution whose weight is built from two free halves (one for the first
    layer), mirror-tied as the module docstring says."""

    def __init__(self, c_in: int, c_out: int, k: int, first: bool = False):
        super().__init__()
        if c_out % 2 or (not first and c_in % 2):
            raise ValueError("mirror-tied layers need an even number of channels")
        self.k, self.first = k, first
        self.w1, w2 = _halves(c_out, c_in, k, first)
        if w2 is not None:
            self.w2 = w2

    def weight(self) -> torch.Tensor:
        w1 = self.w1
        if self.first:
            return torch.cat([w1, w1.flip(-1)], 0)
        w2 = self.w2
        return torch.cat([torch.cat([w1, w2], 1), torch.cat([w2.flip(-1), w1.flip(-1)], 1)], 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight(), padding=self.k // 2)


class PairBN(nn.BatchNorm2d):
    """Batch norm whose channels c and c + C/2 share statistics and parameters (an ordinary
    ``BatchNorm2d`` over C/2 features, so batch-norm recalibration treats it as one): the
    pair's two halves are normalised as if they were more drawings of one channel."""

    def __init__(self, channels: int):
        super().__init__(channels // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.num_features
        if self.training:
            # a free view in channels-last; var_mean over (0, 2, 3) was 3x slower here
            flat = x.permute(0, 2, 3, 1).reshape(-1, 2, n)
            mean, square = flat.mean(0).mean(0), (flat * flat).mean(0).mean(0)
            var = square - mean * mean
            with torch.no_grad():
                count = 2 * x.shape[0] * x.shape[2] * x.shape[3]
                self.num_batches_tracked += 1
                f = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.mul_(1 - f).add_(f * mean)
                self.running_var.mul_(1 - f).add_(f * var * count / max(count - 1, 1))
        else:
            mean, var = self.running_mean, self.running_var
        a = self.weight * torch.rsqrt(var + self.eps)
        c = self.bias - mean * a
        return x * torch.cat([a, a])[None, :, None, None] + torch.cat([c, c])[None, :, None, None]

    def full(self) -> dict[str, torch.Tensor]:
        """The state of an ordinary ``BatchNorm2d`` over all the channels."""
        state = {name: torch.cat([t, t]).detach().clone() for name, t in
                 (("weight", self.weight), ("bias", self.bias),
                  ("running_mean", self.running_mean), ("running_var", self.running_var))}
        return state | {"num_batches_tracked": self.num_batches_tracked.clone()}


class MirrorNet(nn.Module):
    """``DrawingNet``'s layers with mirror-tied weights; the same ``embed``, ``head_weights``
    and ``forward``, and :meth:`to_plain` for everything else."""

    def __init__(self, config: NetConfig):
        super().__init__()
        self.config = config
        layers, c_in = [], 1
        for c_out, pool in zip(config.channels, config.pool):
            for j in range(2):
                layer = nn.ModuleDict({"conv": TiedConv(c_in, c_out, 3, first=c_in == 1),
                                       "bn": PairBN(c_out)})
                layer.pool = pool and j == 1  # as Block: after the second convolution
                layers.append(layer)
                c_in = c_out
        self.layers = nn.ModuleList(layers)
        if config.expand:
            self.expand = TiedConv(c_in, config.expand, 1)
            self.expand_bn = PairBN(config.expand)
            c_in = config.expand
        self.proj = nn.Linear(c_in // 2, config.embed_dim)  # tied as [P, P]: sums each pair
        self.prototypes = nn.Parameter(torch.randn(config.n_classes, config.embed_dim) * 0.1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = F.relu(layer["bn"](layer["conv"](x)))
            if layer.pool:
                x = F.max_pool2d(x, 2)
        if self.config.expand:
            x = F.relu(self.expand_bn(self.expand(x)))
        x = x.mean(dim=(2, 3))
        n = x.shape[1] // 2
        return F.normalize(self.proj(x[:, :n] + x[:, n:]), dim=1)

    def head_weights(self) -> torch.Tensor:
        return self.config.scale * F.normalize(self.prototypes, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(x) @ self.head_weights().T

    @torch.no_grad()
    def to_plain(self) -> DrawingNet:
        """An ordinary ``DrawingNet`` computing the same function (to float rounding)."""
        net = DrawingNet(NetConfig.from_dict(self.config.to_dict()))
        convs = [pair for b in net.blocks for pair in ((b.conv1, b.bn1), (b.conv2, b.bn2))]
        pairs = [(layer["conv"], layer["bn"]) for layer in self.layers]
        if self.config.expand:
            convs.append((net.expand, net.expand_bn))
            pairs.append((self.expand, self.expand_bn))
        for (conv, bn), (tied, pair) in zip(convs, pairs):
            conv.weight.copy_(tied.weight())
            bn.load_state_dict(pair.full())
        net.proj.weight.copy_(torch.cat([self.proj.weight, self.proj.weight], 1))
        net.proj.bias.copy_(self.proj.bias)
        net.prototypes.copy_(self.prototypes)
        return net.eval()
