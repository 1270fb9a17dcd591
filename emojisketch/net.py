"""The drawing network: a small CNN embedding and a cosine classifier over the base emoji.

Read top to bottom: the config, one convolution block, then the network. An image goes
(B, 1, 28, 28) -> three blocks of two 3x3 convolutions -> (optionally) a 1x1 convolution that
widens the last feature map -> global average pool -> a linear layer -> L2 normalisation: a
unit-length embedding of ``embed_dim`` floats. The widening is cheap (it runs on the 7x7 map)
and lifts the pooled features out of the last block's few channels: the embedding is a linear
map of them, so without it its rank is at most the last block's width. The base
classifier is a cosine (normalised softmax) head: each base emoji has a unit prototype in the
same space, and a logit is ``scale * cos(embedding, prototype)``. That makes the embedding fit
for nearest-neighbour use (the k-NN classifier) and lets the head be exported as one plain
inner-product layer (weights ``scale * prototypes``) that Core ML can keep training.

Every layer here has a Core ML neural-network twin (convolution, batch norm, ReLU, pooling,
inner product, L2 normalise), which the exporter and the reference interpreter rely on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class NetConfig:
    channels: tuple[int, ...] = (24, 48, 96)  # output channels of each block (2 convs each)
    pool: tuple[bool, ...] = (True, True, False)  # 2x2 max pool after the block? 28 -> 14 -> 7
    expand: int = 0  # channels of a 1x1 conv + BN + ReLU before pooling (0: none)
    embed_dim: int = 128  # length of the unit embedding
    n_classes: int = 0  # base emoji the cosine head knows (0: embedding only)
    scale: float = 16.0  # logit = scale * cosine; also the exported head's weight scale
    labels: list[str] = field(default_factory=list)  # the base head's labels, in order

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"], d["pool"] = list(self.channels), list(self.pool)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "NetConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for key in ("channels", "pool"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)


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
        # Unnormalised prototypes; normalised at use so the optimiser moves only directions.
        self.prototypes = nn.Parameter(torch.randn(config.n_classes, config.embed_dim) * 0.1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) images in [0, 1] -> (B, embed_dim) unit vectors."""
        x = self.blocks(x)  # (B, C, 7, 7)
        if self.config.expand:
            x = F.relu(self.expand_bn(self.expand(x)))  # (B, expand, 7, 7)
        x = x.mean(dim=(2, 3))  # (B, C) global average pool
        return F.normalize(self.proj(x), dim=1)

    def head_weights(self) -> torch.Tensor:
        """(n_classes, embed_dim): the cosine head as a plain linear layer's weights."""
        return self.config.scale * F.normalize(self.prototypes, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits over the base emoji: (B, n_classes)."""
        return self.embed(x) @ self.head_weights().T
