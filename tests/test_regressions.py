"""Explicit examples of bugs found by the differential fuzzers (tests/test_fuzz_torch.py)
and the device lane (tests/test_oclgrind.py), each against PyTorch on the same inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import graphnn as G
from graphnn.runtime import get_runtime
from tests.conftest import assert_close

# (shape, dtype) pairs whose sum's dtype follows PyTorch's rule for 0-d operands
PROMOTIONS = [(((), "float64"), ((1,), "float32")), (((3,), "int32"), ((), "int64")),
              (((), "float32"), ((2,), "int64")), (((2,), "bool"), ((), "int32")),
              (((), "float32"), ((), "float64"))]


@pytest.mark.parametrize("a,b", PROMOTIONS)
def test_zero_dim_operands_promote_as_in_pytorch(a, b):
    """Found by the elementwise fuzzer: a float64 0-d tensor plus a float32 tensor was
    float64 (PyTorch: float32; 0-d tensors only decide across categories)."""
    rng = np.random.default_rng(0)
    x, y = (rng.standard_normal(s).astype(d) for s, d in (a, b))
    for fn in (lambda lib, x, y: x + y, lambda lib, x, y: lib.where(x > y, x, y),
               lambda lib, x, y: (x * 2 < y)):
        ours, ref = fn(G, G.tensor(x), G.tensor(y)), fn(torch, torch.tensor(x), torch.tensor(y))
        assert ours.dtype.name == str(ref.dtype).removeprefix("torch."), (a, b)
        assert_close(ours, ref, rtol=1e-6, atol=1e-6)


def test_numpy_scalars_keep_their_dtype():
    """Found writing the next test: G.tensor(np.float64(0.1)) was float32."""
    for v in (np.float64(0.1), np.int32(3), np.float32(2.5), np.int64(-4), np.bool_(True)):
        ours, ref = G.tensor(v), torch.tensor(v)
        assert ours.dtype.name == str(ref.dtype).removeprefix("torch."), repr(v)
        assert ours.item() == ref.item()


def test_zero_dim_promotion_in_a_traced_gradient():
    """The same rule inside a traced module, with the gradient of the float32 operand."""
    class Scale(G.nn.Module):
        def forward(self, x, s):
            return (x * s).sum()

    x = np.arange(1, 4, dtype=np.float32)
    gx, tx = G.tensor(x).requires_grad_(), torch.tensor(x).requires_grad_()
    out = Scale()(gx, G.tensor(np.float64(0.1)))
    ref = (tx * torch.tensor(np.float64(0.1))).sum()
    assert out.dtype.name == "float32" and ref.dtype == torch.float32
    out.backward()
    ref.backward()
    assert_close(gx.grad, tx.grad)


EXTREMA = ["x.max()", "x.max(1)", "x.max(0).values", "x.min(0).indices", "x.amax()",
           "x.amax(1)", "x.amax(0)", "x.amax((0, 1))", "x.amax((0, 2))", "x.amin(-2)",
           "x.argmax()", "x.argmax(1)", "x.argmax(0)", "x.argmin(1)", "x.argmin(0, True)"]


@pytest.mark.parametrize("expr", EXTREMA)
def test_extrema_of_empty_tensors(expr):
    """Found by the reduction fuzzer: over an empty dim PyTorch raises IndexError naming the
    dim (graphnn returned values or raised RuntimeError), over another dim of an empty
    tensor it returns an empty result (graphnn raised)."""
    arr = np.zeros((2, 0, 3), np.float32)
    try:
        ref = eval(expr, {"x": torch.tensor(arr)})
    except (RuntimeError, IndexError) as e:
        with pytest.raises(type(e)) as ours:
            eval(expr, {"x": G.tensor(arr)})
        assert str(ours.value) == str(e)
        return
    ours = eval(expr, {"x": G.tensor(arr)})
    assert tuple(ours.shape) == tuple(ref.shape)
    assert ours.dtype.name == str(ref.dtype).removeprefix("torch.")


def test_empty_outputs_launch_no_kernel():
    """Found by the reduction fuzzer: a reduction with an empty output launched one
    work-item that read and wrote past the empty buffers (on PoCL one never finished), and
    elementwise kernels over empty domains divided by the zero size."""
    rt = get_runtime()
    arr = np.zeros((2, 0, 3), np.float32)
    x, t = G.tensor(arr), torch.tensor(arr)
    before = rt.launches
    outs = [x.sum(0), x.argmax(0), x.max(0).values, (x + 1) * 2]
    refs = [t.sum(0), t.argmax(0), t.max(0).values, (t + 1) * 2]
    rt.finish()
    assert rt.launches == before
    for o, r in zip(outs, refs):
        assert tuple(o.shape) == tuple(r.shape)
    # a reduction over the empty dim still writes its (non-empty) result
    assert_close(x.sum(1), t.sum(1))
    assert tuple(x.softmax(1).shape) == (2, 0, 3)
    assert_close(x.amax(0, keepdim=True).reshape(-1), t.amax(0, keepdim=True).reshape(-1))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_with_every_target_ignored(weighted, smoothing):
    """Found by the layer fuzzer: with every target ignored the mean loss is 0 / 0 (nan in
    both) and PyTorch's gradient is zero; graphnn's was nan (0 * inf through the mask)."""
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    y = np.array([2, 2, 2])
    w = np.array([1.0, 2.0, 0.5, 3.0], np.float32) if weighted else None
    out = []
    for lib in (G, torch):
        xx = lib.tensor(x).requires_grad_()
        loss = lib.nn.functional.cross_entropy(
            xx, lib.tensor(y), weight=None if w is None else lib.tensor(w), ignore_index=2,
            label_smoothing=smoothing)
        loss.backward()
        out.append((loss, xx.grad))
    assert np.isnan(out[0][0].item()) and np.isnan(out[1][0].item())
    assert_close(out[0][1], out[1][1])
    ours, ref = G.tensor(x).requires_grad_(), torch.tensor(x).requires_grad_()
    G.nn.functional.nll_loss(ours, G.tensor(y), ignore_index=2).backward()
    torch.nn.functional.nll_loss(ref, torch.tensor(y), ignore_index=2).backward()
    assert_close(ours.grad, ref.grad)


@pytest.mark.parametrize("kw", [dict(dim=(0, 1, 2)), dict(p="fro", dim=(0, 1, 2)),
                                dict(p=2, dim=(0, 1, 2)), dict(dim=(0, 2)),
                                dict(p=1, dim=(2, 0, 1))])
def test_frobenius_norm_over_three_dims_is_refused(kw):
    """Found by the reduction fuzzer: PyTorch refuses the default "fro" norm over more than
    two dims (a matrix norm); graphnn computed a vector norm."""
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    try:
        ref = torch.tensor(x).norm(**kw)
    except RuntimeError as e:
        with pytest.raises(RuntimeError) as ours:
            G.tensor(x).norm(**kw)
        assert str(ours.value) == str(e)
        return
    assert_close(G.tensor(x).norm(**kw), ref)


def test_python_bounds_keep_float64_precision():
    """Found by the elementwise fuzzer: a Python number meeting a float64 tensor through a
    where (clamp's bounds) took its dtype from the bool condition and was rounded to
    float32 (0.6 became 0.6000000238)."""
    x = np.array([0.9, -0.9, 0.1])
    for fn in (lambda lib, t: t.clamp(-0.7, 0.6), lambda lib, t: t.clamp(max=0.6),
               lambda lib, t: lib.where(t > 0, 0.3, t)):
        ours, ref = fn(G, G.tensor(x)), fn(torch, torch.tensor(x))
        assert ours.dtype.name == "float64"
        np.testing.assert_array_equal(ours.numpy(), ref.numpy())


def test_matmul_of_an_empty_batch_with_an_empty_inner_dim():
    """(1, 0, 0) @ (0, 1): the rows of a were flattened with a -1, which a 0 makes
    ambiguous (found by the fuzzer)."""
    a = np.zeros((1, 0, 0), np.float32)
    b = np.zeros((0, 1), np.float32)
    ours = G.matmul(G.tensor(a), G.tensor(b))
    ref = torch.matmul(torch.tensor(a), torch.tensor(b))
    assert tuple(ours.shape) == tuple(ref.shape) == (1, 0, 1)


def test_helper_functions_are_static_inline(monkeypatch):
    """A helper emitted as plain ``inline`` (C99: no external definition) is an unresolved
    extern on NVIDIA's OpenCL when the build does not inline it ("ptxas fatal: Unresolved
    extern function 'gnn_atomic_add_float'" under -cl-opt-disable); PoCL linked it anyway.
    Every helper the kernels emit (float atomics, 16-bit conversions, the random hashes)
    must be ``static inline``."""
    import re

    from graphnn.runtime import opencl

    sources = []
    build = opencl.OpenCLRuntime.executable

    def keep(self, program, label=""):
        sources.append(program.source)
        return build(self, program, label)

    monkeypatch.setattr(opencl.OpenCLRuntime, "executable", keep)
    x = G.arange(12, dtype=G.float32).reshape(3, 4).requires_grad_(True)
    index = G.tensor([[0, 1, 2, 0], [1, 1, 0, 2]])
    y = G.zeros(3, 4).scatter_add(0, index, x[:2])
    h = (x.half() * 2).float()
    d = G.nn.functional.dropout(x, 0.5)
    (y.sum() + h.sum() + d.sum()).backward()
    np.asarray(x.grad.numpy())
    text = "\n".join(sources)
    helpers = re.findall(r"^(?:#pragma[^\n]*\n)?(\w+(?: \w+)*) \w+ (gnn_\w+)\(", text, re.M)
    names = {name for _, name in helpers}
    assert {"gnn_atomic_add_float", "gnn_f16_load", "gnn_hash32"} <= names, sorted(names)
    bad = sorted({name for qual, name in helpers if not qual.startswith("static inline")})
    assert not bad, f"helpers without static inline: {bad}"
