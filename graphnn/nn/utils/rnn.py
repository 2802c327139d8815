"""Variable-length sequences for the recurrent layers: ``pad_sequence``,
``pack_padded_sequence``, ``pad_packed_sequence``, ``pack_sequence`` and ``PackedSequence``
(PyTorch's layout: the time steps' valid rows concatenated, ``batch_sizes`` per step, sorted
by decreasing length). The lengths live on the host, as in PyTorch; the data is gathered on
the device (a gradient flows back through it)."""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from graphnn import _ops
from graphnn._creation import tensor
from graphnn._tensor import Tensor


class PackedSequence(namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices",
                                                   "unsorted_indices"])):
    """``data`` (sum of lengths, *), ``batch_sizes`` (max length,) int64, and the order.

    In a compiled call only ``data`` is a graph input: the other fields are host metadata
    (PyTorch keeps them on the CPU) that steer the unrolled recurrence, so their values are
    part of the trace key (``graph_static_fields``)."""

    graph_static_fields = ("batch_sizes", "sorted_indices", "unsorted_indices")

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = _invert(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    @property
    def is_cuda(self) -> bool:
        return False


def _host_lengths(lengths) -> np.ndarray:
    if isinstance(lengths, Tensor):
        return lengths._host().astype(np.int64).reshape(-1)
    return np.asarray(lengths, np.int64).reshape(-1)


def _invert(perm: Tensor) -> Tensor:
    p = perm._host().astype(np.int64)
    inv = np.empty_like(p)
    inv[p] = np.arange(p.size)
    return tensor(inv)


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Packs padded (L, N, *) (or (N, L, *)) sequences of the given lengths."""
    lens = _host_lengths(lengths)
    if enforce_sorted:
        if np.any(np.diff(lens) > 0):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when "
                               "`enforce_sorted` is True. You can pass `enforce_sorted=False` "
                               "to pack_padded_sequence and/or pack_sequence to sidestep this "
                               "requirement if you do not need ONNX exportability.")
        order = np.arange(lens.size)
        sorted_indices = None
    else:
        order = np.argsort(-lens, kind="stable")
        sorted_indices = tensor(order)
    x = _ops.transpose(input, 0, 1) if batch_first else input
    seq, n = x.shape[0], x.shape[1]
    if lens.size != n:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got "
                           f"{lens.size} (batch_size={n})")
    if lens.size and (lens.min() <= 0 or lens.max() > seq):
        raise RuntimeError("Length of all samples has to be greater than 0, but found an "
                           "element in 'lengths' that is <= 0" if lens.min() <= 0 else
                           f"lengths must not exceed the sequence length {seq}")
    sorted_lens = lens[order]
    batch_sizes = np.array([(sorted_lens > t).sum() for t in range(int(sorted_lens.max()))],
                           np.int64)
    rows = np.concatenate([t * n + order[:b] for t, b in enumerate(batch_sizes)])
    flat = _ops.reshape(x, (seq * n,) + tuple(x.shape[2:]))
    data = _ops.index_select(flat, 0, tensor(rows))
    return PackedSequence(data, tensor(batch_sizes), sorted_indices, None)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0, total_length: int | None = None):
    """The inverse of pack_padded_sequence: (padded (L, N, *) or (N, L, *), lengths (N,)) in
    the original batch order."""
    data, batch_sizes = sequence.data, sequence.batch_sizes._host().astype(np.int64)
    n = int(batch_sizes[0]) if batch_sizes.size else 0
    seq = batch_sizes.size
    if total_length is not None:
        if total_length < seq:
            raise ValueError(f"Expected total_length to be at least the length of the longest "
                             f"sequence in input, but got total_length={total_length} and max "
                             f"sequence length being {seq}")
        seq = total_length
    lens_sorted = np.array([(batch_sizes > b).sum() for b in range(n)], np.int64)
    order = (sequence.sorted_indices._host().astype(np.int64)
             if sequence.sorted_indices is not None else np.arange(n))
    starts = np.concatenate([[0], np.cumsum(batch_sizes)[:-1]]) if seq else np.array([], int)
    rows = np.zeros((seq, n), np.int64)
    valid = np.zeros((seq, n), bool)
    for rank, b in enumerate(order):
        for t in range(lens_sorted[rank]):
            rows[t, b], valid[t, b] = starts[t] + rank, True
    picked = _ops.index_select(data, 0, tensor(rows.reshape(-1)))
    picked = _ops.reshape(picked, (seq, n) + tuple(data.shape[1:]))
    mask = tensor(valid.reshape((seq, n) + (1,) * (data.dim() - 1)))
    padded = _ops.where(mask, picked, float(padding_value))
    lengths = np.empty(n, np.int64)
    lengths[order] = lens_sorted
    if batch_first:
        padded = _ops.transpose(padded, 0, 1)
    return padded, tensor(lengths)


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stacks tensors (L_i, *) into (L_max, N, *) (or (N, L_max, *)), padded."""
    sequences = list(sequences)
    longest = max(s.shape[0] for s in sequences)
    rows = []
    for s in sequences:
        extra = longest - s.shape[0]
        if extra:
            pad = _ops.add(_ops.mul(s[:1], 0.0), float(padding_value))
            pad = _ops.expand(pad, (extra,) + tuple(s.shape[1:]))
            s = _ops.cat([s, pad] if padding_side == "right" else [pad, s], 0)
        rows.append(s)
    out = _ops.stack(rows, 0 if batch_first else 1)
    return out


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    sequences = list(sequences)
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False) -> list:
    lens = _host_lengths(lengths)
    x = padded_sequences if batch_first else _ops.transpose(padded_sequences, 0, 1)
    return [x[i, :int(n)] for i, n in enumerate(lens)]


def unpack_sequence(packed_sequences: PackedSequence) -> list:
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
