"""float16 and bfloat16 (16-bit storage, float32 arithmetic) against PyTorch's CPU kernels.

Each test builds the same computation with ``torch`` and with ``graphnn`` on the same
inputs. Where graphnn computes an op exactly as PyTorch does (one op: convert, compute
in float32, round once), results must be bitwise equal. Where graphnn's fused kernels keep
float32 intermediates that PyTorch rounds to 16 bits after every op, or a chain of
roundings makes a boundary decision (relu, max-pool) flip, the tolerance is a stated
number of units in the last place (ulp) of the 16-bit type; see ``close``.

Compiled graphs are shared: one traced module per dtype for the kernels' vector-width
boundaries, one for the layers, one LeNet step."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch

import graphnn
import graphnn.nn.functional as F
from graphnn.codegen import CPU
from graphnn.codegen.blocking import VEC_MIN, kvec_blocking, nvec_blocking
from graphnn.codegen.families import REDUCE_WIDTH
from graphnn.codegen.vec import width_for
from graphnn.runtime import get_runtime
from tests.kernel_check import dialect_for

DTYPES = [pytest.param((graphnn.float16, torch.float16), id="float16"),
          pytest.param((graphnn.bfloat16, torch.bfloat16), id="bfloat16")]
# the spacing of the 16-bit values just above 1 (2^-10 for float16, 2^-7 for bfloat16)
EPS = {"float16": 2.0 ** -10, "bfloat16": 2.0 ** -7}


def values(t) -> np.ndarray:
    """A tensor's values as float32 (exact for both 16-bit types; numpy has no bfloat16).
    graphnn's are read on the host (``tolist``): ``.float()`` would build a cast kernel for
    every shape."""
    if isinstance(t, graphnn.Tensor):
        return np.array(t.detach().tolist(), np.float32)
    return t.detach().float().numpy()


def exact(ours, ref, what: str = "") -> None:
    a, b = values(ours), values(ref)
    assert str(ours.dtype).split(".")[-1] == str(ref.dtype).split(".")[-1], what
    np.testing.assert_array_equal(a, b, err_msg=what)


def close(ours, ref, ulps: float, what: str = "") -> None:
    """``ours`` within ``ulps`` ulp of PyTorch's result: ``|a - b| <= ulps * eps * (|b| +
    max |b|)``, relative to each value and, for values near zero, to the largest one: a
    value that is a difference of larger ones (a centred activation, a gradient summed
    over a batch) differs by roundings of those."""
    a, b = values(ours), values(ref)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    tol = ulps * EPS[str(ref.dtype).split(".")[-1]]
    scale = float(np.abs(b).max()) if b.size else 0.0
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale, err_msg=what)


def pair(arr: np.ndarray, dtypes, requires_grad: bool = False):
    gdt, tdt = dtypes
    g, t = graphnn.tensor(arr, dtype=gdt), torch.tensor(arr, dtype=tdt)
    if requires_grad:
        g.requires_grad_(True)
        t.requires_grad_(True)
    return g, t


# -- creation, conversion, printing ------------------------------------------------------
# float32 values that exercise the rounding: ties to even, subnormals of float16, overflow
# to inf (float16 above 65504), NaN, signed zeros, bfloat16's float32 range
SPECIAL = np.array([0.0, -0.0, 1.0, -1.5, 2049.0, 2051.0, 1 + 2 ** -8, 1 + 3 * 2 ** -8,
                    1e-6, -3e-7, 6e-8, 65504.0, 65520.0, 7e4, 1e30, -3.4e38, np.inf, -np.inf,
                    np.nan, 0.1, 1 / 3, 2.0 ** -14, 2.0 ** -24, 123.456], np.float32)


def _every_value(tdt) -> np.ndarray:
    """float32 values of every bit pattern of the 16-bit type, the midpoints between
    neighbours (ties), one float32 ulp either side of each midpoint, and SPECIAL."""
    bits = torch.arange(0, 1 << 16, dtype=torch.int32).to(torch.int16).view(tdt)
    v = np.sort(bits.float().numpy())
    v = v[np.isfinite(v)]
    mid = ((v[:-1].astype(np.float64) + v[1:]) / 2).astype(np.float32)
    return np.concatenate([bits.float().numpy(), mid, np.nextafter(mid, np.float32(np.inf)),
                           np.nextafter(mid, np.float32(-np.inf)), SPECIAL])


@pytest.mark.parametrize("dtypes", DTYPES)
def test_conversions_round_as_torch(dtypes, rng):
    """Every 16-bit value, converted to float32 and back, and every rounding boundary,
    bit for bit as PyTorch converts (float16 NaNs included: its bits are compared)."""
    gdt, tdt = dtypes
    arr = _every_value(tdt)
    x, xt = graphnn.tensor(arr), torch.tensor(arr)
    exact(graphnn.tensor(arr, dtype=gdt), torch.tensor(arr, dtype=tdt), "tensor(dtype=)")
    method = "half" if gdt == graphnn.float16 else "bfloat16"
    h, ht = getattr(x, method)(), getattr(xt, method)()       # eager cast kernels
    exact(h, ht, f".{method}()")
    exact(x.to(gdt), ht, ".to(dtype)")
    exact(h.float(), ht.float(), "back to float32")
    if gdt == graphnn.float16:
        np.testing.assert_array_equal(h.numpy().view(np.uint16), ht.numpy().view(np.uint16))
    assert h.element_size() == 2 and h.dtype == gdt
    # in a traced kernel, to other types; a cast inside a fused kernel rounds there too
    # (x.half().float() * 3 is not x * 3)
    other, tother = ((graphnn.bfloat16, torch.bfloat16) if gdt == graphnn.float16 else
                     (graphnn.float16, torch.float16))
    m = graphnn.nn.Module()
    m.forward = lambda v: (v.to(gdt).float() * 3, (v * 3).to(gdt), v.to(gdt).to(other),
                           v.to(gdt).long())
    got = m(x)
    want = (ht.float() * 3, (xt * 3).to(tdt), ht.to(tother), ht.long())
    # kernels flush float32 subnormals (-cl-denorms-are-zero), PyTorch keeps them: the
    # arithmetic is compared on normal float32 values (bfloat16's subnormals are float32's)
    normal = np.abs(arr) >= np.finfo(np.float32).tiny
    for what, ours, ref in zip(("float * 3", "rounded product"), got, want):
        np.testing.assert_array_equal(values(ours)[normal], values(ref)[normal], what)
    exact(got[2], want[2], "traced: to the other 16-bit type")
    finite = np.isfinite(values(ht))
    np.testing.assert_array_equal(got[3].numpy()[finite], want[3].numpy()[finite])


def test_numpy_float16_round_trip():
    arr = np.array([[1.5, -0.0, 65504.0], [6e-8, np.inf, 0.1]], np.float16)
    for t in (graphnn.tensor(arr), graphnn.from_numpy(arr)):
        assert t.dtype == graphnn.float16
        out = t.numpy()
        assert out.dtype == np.float16
        np.testing.assert_array_equal(out.view(np.uint16), arr.view(np.uint16))
    assert graphnn.tensor(arr).tolist() == torch.tensor(arr).tolist()
    b = graphnn.tensor(arr.astype(np.float32), dtype=graphnn.bfloat16)
    with pytest.raises(TypeError, match="BFloat16") as e:
        b.numpy()
    with pytest.raises(TypeError) as et:
        torch.tensor(arr.astype(np.float32), dtype=torch.bfloat16).numpy()
    assert str(e.value).endswith(str(et.value))     # after graphnn's context
    assert b.tolist() == torch.tensor(arr.astype(np.float32), dtype=torch.bfloat16).tolist()


@pytest.mark.parametrize("dtypes", DTYPES)
def test_factories(dtypes):
    gdt, tdt = dtypes
    for make in (lambda L, d: L.zeros(2, 3, dtype=d), lambda L, d: L.ones(4, dtype=d),
                 lambda L, d: L.full((2, 2), 0.1, dtype=d),
                 lambda L, d: L.full((3,), 6e4 if d in (torch.float16, graphnn.float16)
                                     else 3e38, dtype=d),
                 lambda L, d: L.arange(0, 3, 0.3, dtype=d),
                 lambda L, d: L.zeros_like(L.ones(2, dtype=d)),
                 lambda L, d: L.full_like(L.ones(2, dtype=d), 1 / 3),
                 lambda L, d: L.tensor(2.5, dtype=d),
                 lambda L, d: L.HalfTensor([1.1, 2.2]) if d in (graphnn.float16,
                                                               torch.float16) else
                 L.BFloat16Tensor([1.1, 2.2])):
        exact(make(graphnn, gdt), make(torch, tdt), "factory")
    # PyTorch's linspace steps in 16-bit arithmetic (a rounded step, then rounded
    # products and sums); graphnn's values are the exact ones rounded once
    close(graphnn.linspace(-1, 1, 7, dtype=gdt), torch.linspace(-1, 1, 7, dtype=tdt), 1)
    # a Python number the type cannot hold: PyTorch's error (an array overflows to inf)
    big = 65520.0 if gdt == graphnn.float16 else 3.4e38
    for fill in (lambda L, d: L.full((2,), big, dtype=d),
                 lambda L, d: L.ones(2, dtype=d).fill_(-big),
                 lambda L, d: L.ones(2, dtype=d).masked_fill(L.ones(2, dtype=L.bool), big)):
        with pytest.raises(RuntimeError) as et:
            fill(torch, tdt)
        with pytest.raises(RuntimeError, match="without overflow") as e:
            fill(graphnn, gdt)
        assert str(e.value).endswith(str(et.value))     # after graphnn's context
    # random draws: the dtype, and multiples of 2^-digits below 1 (none rounds up to 1)
    digits = 11 if gdt == graphnn.float16 else 8
    u = values(graphnn.rand(4096, dtype=gdt))
    assert graphnn.rand(2, dtype=gdt).dtype == gdt and graphnn.randn(2, dtype=gdt).dtype == gdt
    assert u.min() >= 0 and u.max() < 1 and np.all(u * 2 ** digits == np.floor(u * 2 ** digits))


@pytest.mark.parametrize("dtypes", DTYPES)
def test_printing(dtypes):
    gdt, tdt = dtypes
    for arr in (np.array([1.0, 2.5, -3.1, 1e-3, 7e4], np.float32),
                np.array([[0.1, 0.25], [1.0, -2.0]], np.float32),
                np.arange(2000, dtype=np.float32) / 7, np.array(3.14159, np.float32),
                np.zeros((2, 0), np.float32)):
        g, t = pair(arr, dtypes)
        assert repr(g) == repr(t).replace("torch.", "graphnn."), arr
    g, t = pair(np.array([1.0, 2.0], np.float32), dtypes, requires_grad=True)
    assert repr(g * 2) == repr(t * 2).replace("torch.", "graphnn.")
    assert g.type_name() == t.type()


# -- kernels on both sides of their vector-width boundaries ------------------------------
def _both_sides(thresholds) -> list[int]:
    return sorted({s + d for s in thresholds for d in (-1, 0)})


# GEMM with B contiguous along N (a @ b + bias): N below VEC_MIN (scalar kernel) and on
# both sides of each change of vector width and vectors per row; A and B contiguous along
# K (F.linear): K around VEC_MIN and the vector width over K
_D = dialect_for("cpu")      # this device's blocking
GEMM_N = _both_sides([VEC_MIN] + [n for n in range(VEC_MIN + 1, 4 * CPU.row_max)
                                  if nvec_blocking(_D, 4, n).cols !=
                                  nvec_blocking(_D, 4, n - 1).cols])
GEMM_K = _both_sides([VEC_MIN] + [k for k in range(VEC_MIN + 1, 4 * CPU.row_max)
                                  if kvec_blocking(_D, 4, 4, k)[0] !=
                                  kvec_blocking(_D, 4, 4, k - 1)[0]])
# convolution rows (and the fused max-pool tail): output widths on both sides of each
# vector width and of the widest row the row kernels take (row_max: scalar beyond)
CONV_W = _both_sides([w for w in range(2, CPU.row_max + 2)
                      if width_for(w) != width_for(w - 1)] + [CPU.row_max + 1])
# vector sums: runs below and at one vector, and around the 4-accumulator step
SUM_RUN = _both_sides([REDUCE_WIDTH, 4 * REDUCE_WIDTH, 4 * REDUCE_WIDTH + 1])


def _boundary_inputs(rng) -> dict:
    r = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    arrays = {}
    # few rows and channels: the vectors run along N, K and the output row
    for n in GEMM_N:
        arrays[f"nvec{n}"] = (r(2, 5), r(5, n), r(n))
    for k in GEMM_K:
        arrays[f"kvec{k}"] = (r(2, k), r(3, k), r(3))
    for w in CONV_W:
        arrays[f"conv{w}"] = (r(1, 1, 3, w + 1), r(2, 1, 2, 2), r(2))
    for n in SUM_RUN:
        arrays[f"sum{n}"] = (r(2, n),)
    return arrays


def _boundary_cases(L, t: dict) -> list:
    out = []
    for name, args in t.items():
        if name.startswith("nvec"):
            out.append(L.matmul(args[0], args[1]) + args[2])
        elif name.startswith("kvec"):
            out.append(L.nn.functional.linear(*args).relu())
        elif name.startswith("conv"):
            y = L.nn.functional.conv2d(args[0], args[1], args[2]).relu()
            out += [y, L.nn.functional.max_pool2d(y, 2)]
        else:
            out.append(args[0].sum(1))
    return out


@pytest.mark.parametrize("dtypes", DTYPES)
def test_vector_width_boundaries(dtypes, rng):
    """Each 16-bit output is the exact result on the 16-bit inputs rounded once (float32
    products and sums, one rounding at the store): PyTorch's within an ulp (it rounds the
    product before adding the bias, and sums in another order), the exact value within
    half an ulp."""
    gdt, tdt = dtypes
    arrays = _boundary_inputs(rng)
    ours = {k: tuple(graphnn.tensor(a, dtype=gdt) for a in v) for k, v in arrays.items()}
    ref = {k: tuple(torch.tensor(a, dtype=tdt) for a in v) for k, v in arrays.items()}
    m = graphnn.nn.Module()
    # the inputs are captured, not arguments: an argument's leading size is symbolic
    # (a batch), which gives GEMM its full row block whatever the size
    m.forward = lambda unused: tuple(_boundary_cases(graphnn, ours))
    got = m(graphnn.zeros(1))
    want = _boundary_cases(torch, ref)
    # the exact results on the same 16-bit inputs (float64), which the kernels round once
    exact64 = _boundary_cases(torch, {k: tuple(t.double() for t in v) for k, v in ref.items()})
    names = [n for n in arrays for _ in range(2 if n.startswith("conv") else 1)]
    # (the numpy reference device rounds every op, as PyTorch: no single rounding there)
    fused = get_runtime().kind != "reference"
    for name, a, b, e in zip(names, got, want, exact64):
        close(a, b, 1, name)
        if fused:
            rounded_once(a, e.numpy(), gdt, name)


def rounded_once(ours, exact: np.ndarray, gdt, what: str) -> None:
    """``ours`` is ``exact`` rounded to nearest in the 16-bit type, up to the float32
    accumulation's own error: within half an ulp (a truncating or otherwise wrong store,
    or a lane from a neighbouring element, is not)."""
    a, x = values(ours).astype(np.float64), exact
    digits, low = (10, -14) if gdt == graphnn.float16 else (7, -126)
    ulp = 2.0 ** (np.maximum(np.floor(np.log2(np.maximum(np.abs(x), 1e-300))), low) - digits)
    bad = np.abs(a - x) > 0.5 * ulp + np.abs(x) * 2.0 ** -20
    assert not bad.any(), f"{what}: {a[bad][:5]} are not {x[bad][:5]} rounded once"



# -- elementwise chains, reductions, normalizations, losses, index ops -------------------
def _net(L, dt):
    """One traced module (one forward and one backward program per dtype) for the ops
    whose rounding points differ: a fused elementwise chain, reductions, BatchNorm (batch
    statistics and running statistics), LayerNorm, softmax, log_softmax, cross-entropy,
    an embedding (its gradient is a scatter of 16-bit values)."""
    class Net(L.nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = L.nn.BatchNorm2d(3)
            self.ln = L.nn.LayerNorm(5)
            self.fc = L.nn.Linear(5, 6)
            self.emb = L.nn.Embedding(7, 5)

        def forward(self, x, w, idx, y, g):
            F, bn = L.nn.functional, self.bn
            chain = (x * 0.7 + w).tanh() * x - F.gelu(w) / (x.abs() + 1)
            outs = [chain, chain.sum(), (x * x).mean(1), x.amax(0), x.var(1), w.sum(0),
                    x.amin(1), bn(x), self.ln(x), F.softmax(x, 1), F.log_softmax(x, -1),
                    F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias),
                    self.emb(idx), F.cross_entropy(self.fc(x[:, 0, 0]), y)]
            total = outs[-1]
            for o, r in zip(outs, g):
                total = total + (o * r).sum()
            return outs + [x.argmax(1), total]

    L.manual_seed(0)
    return Net().to(dt)


# (name, ulp): a chain of 7 ops that PyTorch rounds one by one (graphnn once: 2 ulp); one
# op that both compute in float32 and round once, from sums in another order (1 ulp), or
# from statistics computed another way (2 ulp). Measured: at most 0.5 ulp. softmax: 0.5
# (0.2 measured; with its log-sum-exp stored in 16 bits between its kernels, 0.8-1).
_NET_OUTPUTS = [("chain", 2), ("sum", 1), ("mean", 1), ("amax", 0), ("var", 1), ("sum 0", 1),
                ("amin", 0), ("batch_norm", 2), ("layer_norm", 2), ("softmax", 0.5),
                ("log_softmax", 2), ("batch_norm eval", 2), ("embedding", 0),
                ("cross_entropy", 2)]


@pytest.mark.parametrize("dtypes", DTYPES)
def test_chains_reductions_norms_losses(dtypes, rng):
    """Outputs as ``_NET_OUTPUTS`` says; every gradient within 3 ulp (the input's gradient
    sums 14 paths, which PyTorch rounds one by one; measured: 1.4 ulp), the running
    statistics within 2 ulp."""
    gdt, tdt = dtypes
    x = rng.standard_normal((4, 3, 5, 5)).astype(np.float32) * 2 + 1
    w = rng.standard_normal((4, 3, 5, 5)).astype(np.float32)
    idx, y = np.array([[1, 3, 6, 1], [2, 2, 2, 0]]), rng.integers(0, 6, 4)
    nets = _net(torch, tdt), _net(graphnn, gdt)
    with torch.no_grad():
        nets[0].bn.weight.copy_(torch.tensor([0.5, 1.5, -1.0]))
        nets[0].bn.bias.copy_(torch.tensor([0.1, 0.2, 0.3]))
    nets[1].load_state_dict(nets[0].state_dict())
    # weights of each output in the loss
    g = [rng.standard_normal(s).astype(np.float32) for s in
         [(4, 3, 5, 5), (), (4, 5, 5), (3, 5, 5), (4, 5, 5), (3, 5, 5), (4, 5, 5)] +
         [(4, 3, 5, 5)] * 5 + [(2, 4, 5)]]
    res = []
    for L, net, dt in ((torch, nets[0], tdt), (graphnn, nets[1], gdt)):
        xs = [L.tensor(a, dtype=dt, requires_grad=True) for a in (x, w)]
        outs = net(*xs, L.tensor(idx), L.tensor(y), [L.tensor(a, dtype=dt) for a in g])
        outs[-1].backward()
        res.append(outs + [t.grad for t in xs] + [p.grad for p in net.parameters()] +
                   [net.bn.running_mean, net.bn.running_var])
    ref, got = res
    for (name, ulps), a, b in zip(_NET_OUTPUTS, got, ref):
        assert a.dtype == gdt, name
        close(a, b, ulps, name)
    exact(got[len(_NET_OUTPUTS)], ref[len(_NET_OUTPUTS)], "argmax")
    grads = ["x.grad", "w.grad"] + [f"{n}.grad" for n, _ in nets[1].named_parameters()]
    for name, a, b in zip(grads + ["running_mean", "running_var"],
                          got[len(_NET_OUTPUTS) + 2:], ref[len(_NET_OUTPUTS) + 2:]):
        assert a.dtype == gdt, name
        close(a, b, 3 if name.endswith("grad") else 2, name)
    assert len(got) == len(_NET_OUTPUTS) + 2 + len(grads) + 2


@pytest.mark.parametrize("dtypes", DTYPES)
def test_long_sums_accumulate_in_float32(dtypes, rng):
    """16-bit accumulators would stop at 2048 (float16) and 256 (bfloat16). In one stage,
    and split into float32 partials (ir/passes/split_reduce.py): the tensors are
    captured, not arguments, whose leading size would be symbolic and never split."""
    gdt, tdt = dtypes
    v = rng.random(3 * 16384).astype(np.float32)
    ours = [graphnn.ones(10000, dtype=gdt), graphnn.tensor(v, dtype=gdt)]
    ref = [torch.ones(10000, dtype=tdt), torch.tensor(v, dtype=tdt)]
    sums = graphnn.nn.Module()
    sums.forward = lambda unused: (ours[0].sum(), ours[1].sum(), ours[1].mean())
    for what, a, b in zip(("ones", "split sum", "split mean"), sums(graphnn.zeros(1)),
                          (ref[0].sum(), ref[1].sum(), ref[1].mean())):
        close(a, b, 1, what)


# -- LeNet ---------------------------------------------------------------------------------
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
from lenet import LeNet, torch_twin  # noqa: E402


@pytest.mark.parametrize("dtypes", DTYPES)
def test_lenet_forward_and_training_step(dtypes, rng):
    """LeNet.half() / .bfloat16() against the same torch model: logits and loss, every
    gradient (PyTorch rounds the conv and linear gradients and the bias sums at other
    points than the fused kernels here), 2 ulp; the parameters after an SGD step with
    momentum, 1 ulp. Measured: at most 0.7 ulp. (Later steps drift apart: a relu or
    max-pool decision on a value that rounds differently moves whole gradients.)"""
    gdt, tdt = dtypes
    graphnn.manual_seed(0)
    ours = LeNet()
    ref = torch_twin(ours).to(tdt)
    ours.to(gdt)
    for (name, p), rp in zip(ours.named_parameters(), ref.parameters()):
        exact(p, rp, f"converted {name}")
    opt = graphnn.optim.SGD(ours.parameters(), lr=0.05, momentum=0.9)
    ropt = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9)
    x = rng.standard_normal((4, 1, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, 4)
    # the loss in the traced module: one forward and one backward program
    step = graphnn.nn.Module()
    step.net = ours
    step.forward = lambda a, b: (lambda out: (out, F.cross_entropy(out, b)))(step.net(a))
    out, loss = step(graphnn.tensor(x, dtype=gdt), graphnn.tensor(y))
    rout = ref(torch.tensor(x, dtype=tdt))
    close(out, rout, 2, "logits")
    rloss = torch.nn.functional.cross_entropy(rout, torch.tensor(y))
    close(loss, rloss, 2, "loss")
    loss.backward()
    rloss.backward()
    for (name, p), rp in zip(ours.named_parameters(), ref.parameters()):
        assert p.grad.dtype == gdt
        close(p.grad, rp.grad, 2, f"{name}.grad")
    opt.step()
    ropt.step()
    for (name, p), rp in zip(ours.named_parameters(), ref.parameters()):
        assert p.dtype == gdt
        close(p, rp, 1, f"{name} after the step")


# -- state_dict and errors ----------------------------------------------------------------
def test_state_dict_save_and_load(tmp_path):
    """F16 and BF16 safetensors entries, readable by PyTorch's safetensors loader and back,
    with float32 and integer entries next to them."""
    from safetensors.torch import load_file, save_file
    g = graphnn.nn.Sequential(graphnn.nn.Linear(3, 2), graphnn.nn.BatchNorm1d(2))
    g[0].half()
    g[1].bfloat16()
    sd = g.state_dict()
    graphnn.save(sd, tmp_path / "g.safetensors")
    theirs = load_file(str(tmp_path / "g.safetensors"))
    assert list(graphnn.load(tmp_path / "g.safetensors")) == list(sd)
    for k, v in sd.items():
        assert str(theirs[k].dtype).split(".")[-1] == v.dtype.name, k
        if v.dtype.is_float:
            exact(v, theirs[k], k)
        else:
            assert v.tolist() == theirs[k].tolist()
    t = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    t[0].half()
    t[1].bfloat16()
    save_file(t.state_dict(), str(tmp_path / "t.safetensors"))
    back = graphnn.load(tmp_path / "t.safetensors")
    g.load_state_dict(back)
    for k, v in t.state_dict().items():
        assert back[k].dtype.name == str(v.dtype).split(".")[-1], k
        if v.dtype.is_floating_point:
            exact(g.state_dict()[k], v, k)
    g.float().load_state_dict(t.state_dict())       # a torch bfloat16 state into float32
    exact(g[1].weight, t[1].weight.float(), "bfloat16 state into float32")


def test_mixed_dtypes_raise_as_torch():
    def both(fn):
        with pytest.raises(Exception) as et:
            fn(torch)
        with pytest.raises(Exception) as eg:
            fn(graphnn)
        assert type(eg.value) is type(et.value)
        # (graphnn's messages may start with the module or function they come from)
        want = str(et.value)
        if want.startswith("Input type (torch.HalfTensor) and weight type"):
            # where oneDNN runs float16 convolutions (CPUs with AVX512-FP16 or AMX), PyTorch
            # checks the types there first, with this message; elsewhere it is the one below
            want = "expected scalar type Half but found Float"
        assert str(eg.value).endswith(want), (str(eg.value), str(et.value))

    f32 = lambda L, *s: L.ones(*s)                              # noqa: E731
    h = lambda L, *s: L.ones(*s, dtype=L.float16)               # noqa: E731
    b = lambda L, *s: L.ones(*s, dtype=L.bfloat16)              # noqa: E731
    both(lambda L: f32(L, 2, 3) @ h(L, 3, 2))
    both(lambda L: h(L, 2, 3) @ b(L, 3, 2))
    both(lambda L: L.bmm(f32(L, 1, 2, 3), b(L, 1, 3, 2)))
    both(lambda L: h(L, 2) @ f32(L, 2))
    both(lambda L: L.nn.functional.linear(h(L, 2, 3), f32(L, 2, 3)))
    both(lambda L: L.nn.functional.linear(f32(L, 2, 3), h(L, 2, 3), h(L, 2)))
    both(lambda L: L.nn.functional.linear(h(L, 2, 3), h(L, 2, 3), f32(L, 2)))
    both(lambda L: L.nn.Linear(3, 2).half()(f32(L, 4, 3)))
    both(lambda L: L.nn.Conv2d(1, 1, 3).half()(f32(L, 1, 1, 4, 4)))
    both(lambda L: L.nn.functional.conv2d(f32(L, 1, 1, 4, 4), b(L, 1, 1, 3, 3)))
    both(lambda L: L.nn.functional.conv2d(h(L, 1, 1, 4, 4), f32(L, 1, 1, 3, 3)))
    # promotion where PyTorch promotes: float16 with bfloat16 is float32
    assert (h(graphnn, 2) + b(graphnn, 2)).dtype == graphnn.float32
    assert (h(graphnn, 2) + f32(graphnn, 2)).dtype == graphnn.float32
