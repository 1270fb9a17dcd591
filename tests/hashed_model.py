"""A stand-in for UpdatableModel in the store tests, where only the file contract matters:
``save(path)`` writes one file (a header, the SHA-256 of the body, the body) atomically, and
``load(path)`` rebuilds the model or raises ModelFileError for a foreign or damaged file.

Subclasses say what the body is (``payload``) and how a loaded body becomes a model
(``from_payload``): :class:`NumberedModel` for the crash test (whose child process imports
this module too; it stays light: no torch, no pytest).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from emojisketch.atomic import atomic_write_bytes
from emojisketch.errors import ModelFileError


class HashedModel:
    HEADER = b"hashed-model/1\n"
    KIND = "hashed model"  # in the message for a file of another kind

    def payload(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def from_payload(cls, body: bytes) -> "HashedModel":
        raise NotImplementedError

    def save(self, path):
        body = self.payload()
        return atomic_write_bytes(path, self.HEADER + hashlib.sha256(body).hexdigest().encode()
                                  + b"\n" + body)

    @classmethod
    def load(cls, path):
        data = Path(path).read_bytes()
        if not data.startswith(cls.HEADER):
            raise ModelFileError(f"{Path(path).name} is not a {cls.KIND}")
        digest, _, body = data[len(cls.HEADER):].partition(b"\n")
        if hashlib.sha256(body).hexdigest().encode() != digest:
            raise ModelFileError(f"{Path(path).name} is damaged")
        return cls.from_payload(body)


class NumberedModel(HashedModel):
    """Model number ``n``, whose file holds ``size`` bytes of that number."""

    HEADER = b"crash-test-model/1\n"
    KIND = "crash-test model"

    def __init__(self, n: int, size: int):
        self.n, self.size = n, size

    def payload(self) -> bytes:
        return (b"%08d" % self.n) * (self.size // 8)

    @classmethod
    def from_payload(cls, body: bytes) -> "NumberedModel":
        return cls(int(body[:8]), len(body))
