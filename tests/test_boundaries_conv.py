"""Convolution kernels on both sides of every block boundary of the row-vectorised (cpu
dialect) kernels, against PyTorch: forward, input gradient, weight gradient and the bias
gradient summed in the weight-gradient kernel (tests/kernel_check.py).

The sizes come from codegen's own constants and choosers, so the cases move with them:
row lengths around each vector width ``width_for`` picks and around ``row_max`` (beyond it
the generic kernels run); channel counts around the channel block ``_divisor_at_most``
picks under the device's accumulator budget (``acc_budget``), and primes no block divides;
the ``UNROLL`` and ``TAP_UNROLL`` limits; and one shape per weight-gradient blocking regime
of ``_wgrad_blocks``. A few cases with the same expected kernel paths run as one graph, and
assert those paths (row-vectorised or generic), so that a table notices when it stops
reaching the code it was made for."""
from __future__ import annotations

import numpy as np
import pytest

from graphnn.codegen.conv import TAP_UNROLL, UNROLL, WGRAD_MAX, WGRAD_SHARE, \
    _divisor_at_most, _wgrad_blocks, acc_budget
from graphnn.codegen.vec import width_for
from graphnn.codegen.workgroup import group_size
from tests.kernel_check import ROW_MAX, ROWS, WIDEST, Case, around, check_all, chunks, \
    dialect, dialect_for, nvec, prime_between, programs

DEVICE = dialect_for("cpu")     # the register budget is this device's (acc_budget)

# the direct kernels' cases: none runs as a GEMM (tests/test_conv_gemm.py covers those)
pytestmark = pytest.mark.usefixtures("direct_convolutions")


def budget(cols: int, share: float | None = None) -> int:
    """floatN accumulators a work-item holds for rows of ``cols`` on this device."""
    width = width_for(cols)
    return acc_budget(DEVICE, width) if share is None else acc_budget(DEVICE, width, share)


def channel_sizes(cap: int) -> list[int]:
    """Channel counts around a channel block of ``cap``, and a prime above it (no block
    divides it: blocks of one channel)."""
    return sorted(set(around(cap)) | {prime_between(cap + 1, 2 * cap + 1)})


def _out(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def case(n, c, oc, h, w, k, stride=1, padding=0, dilation=1, groups=1, bias=True, tag=""):
    kh, kw = (k, k) if isinstance(k, int) else k
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    attrs = dict(stride=pair(stride), padding=pair(padding), dilation=pair(dilation),
                 groups=groups)
    cid = f"{tag}-n{n}c{c}o{oc}h{h}w{w}k{kh}x{kw}s{stride}p{padding}d{dilation}g{groups}" + \
        ("" if bias else "-nobias")
    return pytest.param(dict(n=n, c=c, oc=oc, h=h, w=w, k=(kh, kw), attrs=attrs, bias=bias,
                             id=cid), id=cid)


def expected_paths(cs) -> dict:
    """Which conv kernels take the row path: rows (output columns for the forward and the
    weight gradient, input columns for the input gradient) no longer than row_max, and a
    weight-gradient accumulator count within its limit."""
    a = cs["attrs"]
    ow = _out(cs["w"], cs["k"][1], a["stride"][1], a["padding"][1], a["dilation"][1])
    return {"conv2d": ow <= ROW_MAX, "conv2d_input_grad": cs["w"] <= ROW_MAX,
            "conv2d_weight_grad": ow <= ROW_MAX and cs["k"][1] * nvec(ow) <= WGRAD_MAX}


def conv_case(cs, dtype, seed) -> Case:
    rng = np.random.default_rng(seed)
    n, c, oc, h, w = (cs[k] for k in ("n", "c", "oc", "h", "w"))
    kh, kw = cs["k"]
    groups = cs["attrs"]["groups"]
    fan = c // groups * kh * kw
    arrays = [rng.standard_normal((n, c, h, w)).astype(dtype),
              (rng.standard_normal((oc, c // groups, kh, kw)) / fan ** 0.5).astype(dtype)]
    if cs["bias"]:
        arrays.append(rng.standard_normal(oc).astype(dtype))

    def fn(lib, x, wt, *b):
        return lib.nn.functional.conv2d(x, wt, b[0] if b else None, **cs["attrs"])

    tol = {"rtol": 1e-9, "atol": 1e-9} if dtype == np.float64 else \
        {"rtol": 1e-4, "atol": 1e-4 * max(1.0, (fan / 64) ** 0.5)}
    return Case(fn, arrays, cs["id"], **tol)


def run_conv(chunk, dtype=np.float32, name="cpu"):
    """The convolutions of ``chunk`` (cases with the same expected kernel paths) in one
    graph, forward and gradients against PyTorch."""
    paths = expected_paths(chunk[0])
    if name != "cpu":
        paths = dict.fromkeys(paths, False)
    with dialect(name):
        check_all([conv_case(cs, dtype, i) for i, cs in enumerate(chunk)], expect=paths)


def by_paths(p):
    return tuple(expected_paths(p.values[0]).items())


# output row lengths (3x3, padding 1: input rows of the same length); few channels, the
# channel blocks have tables of their own
WIDTH_CASES = [case(2, 1, 2, 4, w, 3, padding=1, tag="width") for w in ROWS]
# strided and dilated rows: the input gradient's lanes that no output column reaches
STRIDE_CASES = [case(1, 2, 2, 6, w, 3, stride=(1, 2), padding=(1, 2), dilation=(1, 2),
                     tag="stride") for w in (WIDEST, WIDEST + 1, 2 * WIDEST + 1)]


def block_cases() -> list:
    """Channel counts around the channel block for one vector per row and for the most
    vectors a row can have: forward blocks over output channels, the input gradient over
    input channels; pairing the sizes in opposite orders covers both."""
    out = []
    for cols in (WIDEST - 1, ROW_MAX):
        cap = max(1, budget(cols) // nvec(cols))
        for icg, ocg in zip(channel_sizes(cap), reversed(channel_sizes(cap))):
            out.append(case(1, icg, ocg, 2, cols, 1, tag=f"block{cap}"))
    return out


def unroll_cases() -> list:
    """Taps per row just within and just past UNROLL (channel loops) and multiply-adds per
    input channel around TAP_UNROLL (kernel-row loops), one vector per row."""
    taps = 9
    # one vector per row, with room for t + 1 channels in a block (ocb is the channel count):
    # a 16-lane row on AVX-512, an 8-lane one on a 16-register AVX2 CPU
    cols = next(c for c in (WIDEST - 1, 8, 4)
                if TAP_UNROLL // (taps * nvec(c)) + 1 <= budget(c) // nvec(c))
    t = TAP_UNROLL // (taps * nvec(cols))
    return [case(1, UNROLL, UNROLL + 1, 2, cols, 1, tag="unroll"),
            case(1, UNROLL + 1, UNROLL, 2, cols, 1, tag="unroll"),
            case(1, UNROLL // taps, t, 4, cols, 3, padding=1, tag="unroll"),
            case(1, UNROLL // taps + 1, t + 1, 4, cols, 3, padding=1, tag="unroll")]


WGRAD_REGIMES = {(ob, part, rows) for ob in (False, True) for part in (False, True)
                 for rows in (False, True)}


def wgrad_regimes() -> dict:
    """One shape per weight-gradient blocking regime found among small ones: (several
    output channels per work-item, a work-item owns part of the kernel rows, several
    kernel rows per work-item) -> (icg, ocg, kh, kw, output columns)."""
    icg, found = 2, {}
    for cols in (WIDEST - 1, 2 * WIDEST + 1, ROW_MAX):
        for ocg in (1, 2, 3, 4, 6, 8, 12, 16):
            for kh in (1, 2, 3, 4, 6):
                for kw in (1, 3, 5):
                    if kw * nvec(cols) > WGRAD_MAX:
                        continue
                    ob, ub = _wgrad_blocks(ocg, icg, ocg, kh, kw, nvec(cols),
                                           budget(cols, WGRAD_SHARE))
                    found.setdefault((ob > 1, ub < kh, ub > 1), (icg, ocg, kh, kw, cols))
    return found


def wgrad_cases() -> list:
    """The regimes' shapes, and one whose accumulators exceed the limit (generic kernel)."""
    out = [case(2, icg, ocg, kh + 3, cols + kw - 1, (kh, kw), padding=(kh // 2, 0),
                tag="wgrad") for icg, ocg, kh, kw, cols in wgrad_regimes().values()]
    kw = WGRAD_MAX // nvec(ROW_MAX) + 1
    out.append(case(1, 2, 3, 3, ROW_MAX + kw - 1, (1, kw), tag="wgrad"))
    return out


def group_cases() -> list:
    """Grouped convolutions with more channels per group than a block holds: each group
    spans several blocks, each of which must read its own group's channels."""
    mid, top = 2 * WIDEST + 1, ROW_MAX
    cap_mid, cap_top = budget(mid) // nvec(mid), budget(top) // nvec(top)
    return [case(1, 2 * (cap_mid + 1), 2 * (cap_mid - 1), 2, mid, 1, groups=2, tag="groups"),
            case(1, 3 * (cap_top + 1), 3 * (2 * cap_top + 1), 3, top, 3, padding=1, groups=3,
                 tag="groups")]


CASES = WIDTH_CASES + STRIDE_CASES + block_cases() + unroll_cases() + wgrad_cases() + \
    group_cases()


@pytest.mark.parametrize("chunk", chunks(CASES, 4, by_paths))
def test_conv2d_boundaries(chunk):
    run_conv(chunk)


def test_tables_reach_every_block():
    """The generated tables cross what they are meant to: one and several channel blocks
    in both directions, every weight-gradient regime, rows past row_max."""
    fwd, inp = set(), set()
    for p in CASES:
        cs = p.values[0]
        ow = _out(cs["w"], cs["k"][1], cs["attrs"]["stride"][1], cs["attrs"]["padding"][1],
                  cs["attrs"]["dilation"][1])
        g = cs["attrs"]["groups"]
        if ow <= ROW_MAX:
            ocg = cs["oc"] // g
            fwd.add(cs["oc"] // _divisor_at_most(ocg, max(1, budget(ow) // nvec(ow))) > 1)
        if cs["w"] <= ROW_MAX:
            icg = cs["c"] // g
            inp.add(cs["c"] // _divisor_at_most(icg, max(1, budget(cs["w"]) // nvec(cs["w"])))
                    > 1)
    assert fwd == inp == {False, True}
    assert max(ROWS) > ROW_MAX
    # ub > 1 with all rows requires kh > 1, so every combination is reachable
    assert set(wgrad_regimes()) == WGRAD_REGIMES


# the same boundaries in float64 (double vectors), a few shapes
F64_CASES = [case(1, 3, 2, 3, w, 3, padding=1, tag="f64") for w in (WIDEST - 1, WIDEST + 1)] + \
    [case(1, 7, 5, 2, ROW_MAX, 1, tag="f64")]


@pytest.mark.parametrize("chunk", chunks(F64_CASES, 4, by_paths))
def test_conv2d_boundaries_float64(chunk):
    run_conv(chunk, np.float64)


def gpu_cases() -> list:
    """The generic kernels (one work-item per output element): output counts around the
    dialect's largest work-group, and the attributes the index arithmetic handles. The
    weight gradient's work-group kernel (codegen/workgroup.py) reduces N x OH x OW
    products: the first cases put that around its work-group size too, the last two far
    below it and, with a bias gradient reduced alongside, several times past it."""
    gpu = dialect_for("gpu")
    top = max(gpu.local_1d(n) for n in range(1, 4096))
    group = group_size(gpu, 4, 2)       # the weight gradient's, with a bias gradient
    out = [case(1, 2, 1, 1, e + 2, (1, 3), tag="gpu")
           for e in sorted({s + i for s in (top, group) for i in (-1, 0, 1)})]
    return out + [case(2, 6, 4, 7, 9, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(2, 1),
                       groups=2, tag="gpu"),
                  case(1, 3, 5, 6, 7, 1, stride=3, bias=False, tag="gpu"),
                  case(3, 2, 3, 20, 21, 3, padding=1, tag="gpu")]


@pytest.mark.parametrize("chunk", chunks(gpu_cases(), 3))
def test_conv2d_boundaries_gpu(chunk):
    with programs() as built:
        run_conv(chunk, name="gpu")
    assert any("red[l]" in p.source for p in built if "conv2d_weight_grad" in p.source)
