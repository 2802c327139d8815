"""The CPU GEMM's blocking, derived from the device (``Dialect``'s SIMD fields).

Nothing here is a constant for one CPU: the vector width is the device's, the register
block is the best one that fits its vector registers, and whether B is packed follows its
L2 size. Tests call these functions with other dialects to get the boundary sizes of other
CPUs (``tests/test_boundaries_gemm.py``).

The broadcast microkernel (B contiguous along N, or packed): a work-item holds ``rows`` x
``vectors`` accumulators of ``width`` lanes; each k step loads ``vectors`` vectors of B and
broadcasts one element of A per row. It needs rows * vectors + vectors + 1 registers and
does rows * vectors FMAs per rows + vectors loaded values. Measured on a Zen 5 (32
registers: 6 x 4 at 430 GFLOP/s per two cores of CPU time against 8 x 2 at 345-390 on BERT's
shapes) and on the same machine with PoCL compiling for AVX2 (16 registers: 4 x 3 at 205,
6 x 2 at 195, 8 x 2 spilling at 80), the rule picks the fastest block of both.

The dot-product kernel (A and B contiguous along K): ``rows`` x ``cols`` accumulators of
``width`` lanes plus one vector of A per row and one of B per column.
"""
from __future__ import annotations

from dataclasses import dataclass

from graphnn.codegen.dialect import Dialect
from graphnn.ir.symbolic import is_symbolic

VEC_MIN = 8        # the vectorised dimension (N or K) must be at least this long
MAX_ROWS = 8       # rows per work-item: each row keeps an address in a general register
MAX_VECTORS = 4
PACK_WEIGHT_BYTES = 1 << 20   # products summed over a batch pack B from this size on
PACK_SHORT_K = 256            # a B stored N x K, summed over at most this K, is packed
PACK_SHORT_MIN_N = 64         # from this N
PACK_SHORT_MIN_M = 128        # and this M on; over a longer K,
PACK_TB_MIN_N = 256           # from this N
PACK_TB_MIN_M = 1024          # and this M on (a batch's M counts by its value)
CANDIDATES = 4      # register blocks a tuner times (codegen/tuning.py)


@dataclass(frozen=True)
class NBlock:
    """A work-item's C block in the broadcast kernel: ``rows`` x ``vectors`` vectors of
    ``width`` lanes; B panels are ``cols`` wide."""
    width: int
    vectors: int
    rows: int

    @property
    def cols(self) -> int:
        return self.width * self.vectors


def lanes(d: Dialect, itemsize: int) -> int:
    """Elements of ``itemsize`` bytes in one vector register (``vector_width`` counts
    floats)."""
    return max(1, d.vector_width * 4 // itemsize)


def register_blocks(registers: int, max_vectors: int = MAX_VECTORS) -> list[tuple[int, int]]:
    """(rows, vectors) blocks of the broadcast kernel whose accumulators, B vectors and
    broadcast A value fit in ``registers``, best first: the most FMAs per loaded value,
    ties to the narrower panel."""
    return _best_first([(r, v) for v in range(1, max_vectors + 1)
                        for r in range(1, MAX_ROWS + 1) if r * v + v + 1 <= registers])


def _best_first(blocks: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(rows, cols) blocks by FMAs per loaded value rows * cols / (rows + cols), ties to
    fewer columns, then fewer rows; (1, 1) when none fits."""
    return sorted(blocks, key=lambda b: (-b[0] * b[1] / (b[0] + b[1]), b[1], b[0])) or [(1, 1)]


def register_block(registers: int, max_vectors: int = MAX_VECTORS) -> tuple[int, int]:
    """The best of ``register_blocks``."""
    return register_blocks(registers, max_vectors)[0]


def dot_blocks(registers: int) -> list[tuple[int, int]]:
    """(rows, cols) blocks of the dot-product kernel, best first: rows * cols accumulators
    plus one A vector per row and one B vector per column fit the registers; the most FMAs
    per loaded vector, ties to fewer columns. Columns are a power of two (the vector
    epilogue's row vector)."""
    return _best_first([(r, c) for c in (1, 2, 4, 8) for r in range(1, MAX_ROWS + 1)
                        if r * c + r + c <= registers])


def dot_block(registers: int) -> tuple[int, int]:
    """The best of ``dot_blocks``."""
    return dot_blocks(registers)[0]


def _fit(size: int, block: int) -> int:
    """``block``, or fewer for a short fixed size (a symbolic size keeps ``block`` and relies
    on the bounds guards)."""
    return block if is_symbolic(size) or size >= block else size


def row_lanes(d: Dialect, itemsize: int, n: int) -> int:
    """The device's vector width, halved (down to 4 lanes) while a static run ``n`` is
    shorter than one vector."""
    width = lanes(d, itemsize)
    while width > 4 and not is_symbolic(n) and n < width:
        width //= 2
    return width


def nvec_blockings(d: Dialect, m: int, n: int, itemsize: int = 4,
                   count: int = CANDIDATES) -> list[NBlock]:
    """The broadcast kernel's blocks for an M x N product, best first (``register_blocks``
    clipped to a short M), at most ``count``: the candidates a tuner times."""
    width = row_lanes(d, itemsize, n)
    most = MAX_VECTORS if is_symbolic(n) else max(1, min(MAX_VECTORS, n // width))
    out: list[NBlock] = []
    for rows, vectors in register_blocks(d.vector_registers, most):
        blk = NBlock(width, vectors, _fit(m, rows))
        if blk not in out:
            out.append(blk)
    return out[:count]


def nvec_blocking(d: Dialect, m: int, n: int, itemsize: int = 4) -> NBlock:
    """The broadcast kernel's block for an M x N product (the rule's pick)."""
    return nvec_blockings(d, m, n, itemsize, 1)[0]


def kvec_blockings(d: Dialect, m: int, n: int, k: int, itemsize: int = 4,
                   count: int = CANDIDATES) -> list[tuple[int, int, int]]:
    """The dot-product kernel's (vector width over K, rows, columns), best first, at most
    ``count``."""
    out: list[tuple[int, int, int]] = []
    for rows, cols in dot_blocks(d.vector_registers):
        blk = (row_lanes(d, itemsize, k), _fit(m, rows), _fit(n, cols))
        if blk not in out:
            out.append(blk)
    return out[:count]


def kvec_blocking(d: Dialect, m: int, n: int, k: int, itemsize: int = 4
                  ) -> tuple[int, int, int]:
    """The dot-product kernel's (vector width over K, rows, columns): the rule's pick."""
    return kvec_blockings(d, m, n, k, itemsize, 1)[0]


def pack_b(d: Dialect, m: int, k: int, n: int, itemsize: int, tb: bool = False) -> bool:
    """Whether the broadcast kernel reads B from packed panels ([N/cols][K][cols], one
    launch before the product) instead of B itself. Work-groups of row blocks re-read
    their column panel of B from cache; once B is as big as half the L2, panels of a
    row-major B at a power-of-two stride fall into few cache sets and are re-fetched from
    L3 (the product's speed halved at n = 1024 and fell by 3x at 2048 on a Zen 5).

    A B stored N x K (``tb``: ``Linear``'s weight, attention's keys) reaches the broadcast
    kernel only packed; read where it lies it takes the dot-product kernel, whose
    horizontal sums at the end of each output cost as much as its k loop over a short K,
    and whose loads of B are not shared across a work-group's rows. Whatever the L2, it is
    packed over a K of at most ``PACK_SHORT_K`` from ``PACK_SHORT_MIN_N`` columns and
    ``PACK_SHORT_MIN_M`` rows on, over a longer K from ``PACK_TB_MIN_N`` columns and
    ``PACK_TB_MIN_M`` rows on, where the pack's copy of B is paid back. Measured on an
    Emerald Rapids Xeon, both variants built in one process, ms per call, dot-product kernel
    against pack and broadcast kernel: attention's scores (32 heads of 128 x 128) over 64:
    0.66 -> 0.49, over 32: 0.41 -> 0.16; 1024 rows 256 -> 768: 1.70-1.85 -> 1.26-1.29;
    1024 x 128 over 256: 0.37 -> 0.22; but 16 rows (an LSTM's recurrent product, 128 ->
    512) 0.026 -> 0.031, 32 heads of 64 x 64 over 64: 0.14 -> 0.16 (64 rows of 128 -> 512
    gained, 0.09 -> 0.07: the rows' threshold is the safe side), 256 x 32 over 256: 0.02 ->
    0.05; the MLP's 1024 -> 1024 at 128 rows 0.99 -> 1.34,
    at 512 rows 4.04 -> 4.17; at 1024 rows 1024 -> 256 2.03 -> 1.90, 1536 -> 384 4.86 ->
    4.07, at 2048 rows 1024 -> 1024 16.97 -> 14.70. Elsewhere the L2 rule decides.

    A symbolic M or N (the rows of a batch, or the columns of a convolution's im2col
    matrix, whose N is the batch's output positions) counts by its value, so that a batch
    of 128 rows and one of 1024 may lower to different kernels (each new input signature
    is lowered again: ``ir/symbolic.py``); every batch on the same side of the thresholds
    shares one kernel text. Packed, a convolution's columns ran ResNet-18's 3 x 3 layers'
    training steps 6-10 % faster at 128-512 channels (their N, 392 to 6,272 at batch 8,
    had counted as 1 and left B unpacked). A symbolic K is a batch summed over: a weight
    gradient, whose B is the layer's input. Its size unknown, the choice follows the
    result's: B is packed for weights of ``PACK_WEIGHT_BYTES`` or
    more (BERT's 768 x 768 at K = 4096: 209 -> 346 GFLOP/s per two cores of CPU time on a
    Zen 5), whatever the L2; smaller ones (LeNet's 120 x 576, where the launch costs more
    than it saves) read B as it is."""
    if d.l2_bytes <= 0:
        return False
    if is_symbolic(k):
        return not is_symbolic(m) and not is_symbolic(n) and \
            m * n * itemsize >= PACK_WEIGHT_BYTES
    if tb:
        if k <= PACK_SHORT_K and n >= PACK_SHORT_MIN_N and m >= PACK_SHORT_MIN_M:
            return True
        if k > PACK_SHORT_K:
            return n >= PACK_TB_MIN_N and m >= PACK_TB_MIN_M
    return 2 * k * n * itemsize >= d.l2_bytes


def row_group(d: Dialect, tiles_n: int, tiles_m: int) -> int:
    """Row blocks per work-group: work-items of a group run one after another on one core
    and share their panel of B, so up to 8, while the launch keeps 4 work-groups per
    compute unit to balance the cores."""
    group = 8
    while group > d.max_work_group:
        group //= 2
    while group > 1 and tiles_n * -(-tiles_m // group) < 4 * d.compute_units:
        group //= 2
    return group
