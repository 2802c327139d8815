"""Storage and version counters: the memory tensors share, and how writes are counted.

As in PyTorch, a tensor is a *view* of a storage: ``(storage, offset, strides, shape)``.
Views (``x[0]``, ``x.t()``, ``x.view(...)``), ``detach()`` and ``.data`` share their
base's storage, so a write through any of them is seen by all. A dense write that covers
the whole storage replaces ``Storage.buf`` instead of copying into it: every tensor that
shares the storage sees the new buffer, and whoever still holds the old buffer (a backward
node's saved values) keeps the old values.

A ``VersionCounter`` is shared by a tensor, its views and ``detach()`` (not ``.data``) and
counts in-place writes; a backward node that saved a tensor checks it (PyTorch's
"modified by an inplace operation" error)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(eq=False)
class Storage:
    buf: object                        # the runtime's buffer (DeviceBuffer or HostBuffer)
    nbytes: int                        # bytes the storage holds (the buffer may be larger)
    writes: int = 0                    # bumped by every write; dates the host copy below
    host: np.ndarray | None = None     # a host copy of the values at ``host_writes`` writes
    host_writes: int = -1

    def wrote(self) -> None:
        self.writes += 1

    def remember_host(self, arr: np.ndarray) -> None:
        """Keeps ``arr`` (the storage's values now) so that reading them needs no device
        round trip: integer class indices are validated on the host before kernels run."""
        self.host, self.host_writes = arr, self.writes

    def host_copy(self) -> np.ndarray | None:
        return self.host if self.host is not None and self.host_writes == self.writes else None


class VersionCounter:
    """PyTorch's ``VariableVersion``: the number of in-place writes seen by a tensor and
    everything that shares its version (views, ``detach()``)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def bump(self) -> None:
        self.value += 1
