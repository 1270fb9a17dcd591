"""The drawing network: a small CNN embedding and a cosine classifier over the base emoji.

Read top to bottom: one convolution block, then the network (its config, ``NetConfig``, lives
in :mod:`emojisketch.net_weights`, beside the numpy twin that predicting uses). An image goes
(B, 1, 28, 28) -> three blocks of two 3x3 convolutions -> (optionally) a 1x1 convolution that
widens the last feature map -> global average pool -> a linear layer -> L2 normalisation: a
unit-length embedding of ``embed_dim`` floats. The widening is cheap (it runs on the 7x7 map)
and lifts the pooled features out of the last block's few channels: the embedding is a linear
map of them, so without it its rank is at most the last block's width. The base
classifier is a cosine (normalised softmax) head: each base emoji has a unit prototype in the
same space, and a logit is ``scale * cos(embedding, prototype)``. That makes the embedding fit
for nearest-neighbour use (the k-NN classifier) and lets the head be exported as one plain
inner-product layer (weights ``scale * prototypes``) that Core ML can keep training.

What personalization sees is :meth:`DrawingNet.features`: the embedding alone, or with
``config.pooled`` the embedding and the power-normalised pooled features side by side
(``[e, normalize(sqrt(pooled))] / sqrt(2)``, a unit vector). The projection is trained for the
base categories and drops what they do not need; the pooled features keep it, and beside the
embedding they gave every net measured about half a point of 20-way few-shot accuracy (model
card). Nothing is trained through them: training uses :meth:`DrawingNet.embed`. The base
emoji get a place in that space too: ``pooled_prototypes``, each emoji's unit mean of the
normalised pooled features over its training drawings (measured after training,
:func:`emojisketch.training.pooled_prototypes`).

Every layer here has a Core ML neural-network twin (convolution, batch norm, ReLU, pooling,
inner product, L2 normalise; for the pooled features square root, concat and a linear
scale), which the exporter and the reference interpreter rely on.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .net_weights import HALF_SQRT, NetConfig  # noqa: F401 (NetConfig: the net's config, here too)


def power_normalize(pooled: torch.Tensor) -> torch.Tensor:
    """(B, C) pooled features (>= 0, after a ReLU) -> unit vectors of their square roots (the
    power transform evens out a few strong channels)."""
    return F.normalize(pooled.clamp_min(0).sqrt(), dim=1)


def join_features(embedding: torch.Tensor, pooled: torch.Tensor | None) -> torch.Tensor:
    """The unit embedding, or with ``pooled`` (B, C) the embedding and the power-normalised
    pooled features side by side, scaled to unit length."""
    if pooled is None:
        return embedding
    return torch.cat([embedding, power_normalize(pooled)], 1) * HALF_SQRT


class Block(nn.Module):
    """Two 3x3 convolutions with batch norm and ReLU, then an optional 2x2 max pool."""

    def __init__(self, c_in: int, c_out: int, pool: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.max_pool2d(x, 2) if self.pool else x


class DrawingNet(nn.Module):
    def __init__(self, config: NetConfig):
        super().__init__()
        self.config = config
        blocks, c_in = [], 1
        for c_out, pool in zip(config.channels, config.pool):
            blocks.append(Block(c_in, c_out, pool))
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        if config.expand:
            self.expand = nn.Conv2d(c_in, config.expand, 1, bias=False)
            self.expand_bn = nn.BatchNorm2d(config.expand)
            c_in = config.expand
        self.proj = nn.Linear(c_in, config.embed_dim)
        self.pooled_dim = c_in
        # Unnormalised prototypes; normalised at use so the optimiser moves only directions.
        self.prototypes = nn.Parameter(torch.randn(config.n_classes, config.embed_dim) * 0.1)
        if config.pooled:
            self.register_buffer("pooled_prototypes", torch.zeros(config.n_classes, c_in))

    @property
    def feature_dim(self) -> int:
        """Length of :meth:`features`."""
        return self.config.embed_dim + (self.pooled_dim if self.config.pooled else 0)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) -> (B, C): the last feature map, averaged over its 7x7 places."""
        x = self.blocks(x)  # (B, C, 7, 7)
        if self.config.expand:
            x = F.relu(self.expand_bn(self.expand(x)))  # (B, expand, 7, 7)
        return x.mean(dim=(2, 3))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) images in [0, 1] -> (B, embed_dim) unit vectors."""
        return F.normalize(self.proj(self.pooled(x)), dim=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) -> (B, feature_dim) unit vectors: what the classifiers compare."""
        p = self.pooled(x)
        return join_features(F.normalize(self.proj(p), dim=1), p if self.config.pooled else None)

    def prototype_features(self) -> torch.Tensor:
        """(n_classes, feature_dim): each base emoji as a unit vector in the features' space
        (its cosine-head prototype, and with ``pooled`` its pooled prototype beside it)."""
        protos = F.normalize(self.prototypes, dim=1)
        if not self.config.pooled:
            return protos
        # a prototype not measured (zeros: a net read back from Core ML) keeps its unit length
        return F.normalize(torch.cat([protos, F.normalize(self.pooled_prototypes, dim=1)], 1), dim=1)

    def feature_head_weights(self) -> torch.Tensor:
        """(n_classes, feature_dim): the cosine head as a linear layer over :meth:`features`,
        giving exactly :meth:`forward`'s logits (the pooled part has weight 0)."""
        w = self.head_weights()
        if not self.config.pooled:
            return w
        return torch.cat([w / HALF_SQRT, w.new_zeros(len(w), self.pooled_dim)], 1)

    def head_weights(self) -> torch.Tensor:
        """(n_classes, embed_dim): the cosine head as a plain linear layer's weights."""
        return self.config.scale * F.normalize(self.prototypes, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits over the base emoji: (B, n_classes)."""
        return self.embed(x) @ self.head_weights().T
