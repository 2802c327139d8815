"""GRAPHNN_LIMITS: a smaller device simulated on this one (runtime/limits.py).

The parser and the device description; then this process's device runs as a small GPU
(work-groups of at most 2 work-items, 32 KiB of local memory, no float64, no 64-bit index
math) for kernels checked against PyTorch, a representative subset of the suite (LeNet's
training, sorts, scatters) and the errors: float64 and oversized tensors are refused
naming the device and the capability, before any kernel runs. The whole suite runs under
``GRAPHNN_LIMITS`` by hand (docs/design.md, "Device lanes")."""
from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import pytest

import graphnn as G
from graphnn.codegen import DeviceFeatureError
from graphnn.runtime import get_runtime
from graphnn.runtime.device import describe
from graphnn.runtime.limits import apply, parse
from tests import test_kernels_scatter, test_lenet, test_sort
from tests.kernel_check import Case, check_all, matmul, programs, reduce_fn

SMALL = "max_work_group=2,local_mem=32K,fp64=0,int64_index=0"


def test_parse_and_apply():
    assert parse(" max_work_group=256, local_mem=32KiB,fp64=0,int64_index=1 ") == {
        "max_work_group": 256, "local_mem": 32768, "fp64": False, "int64_index": True}
    assert parse("") == {}
    for bad, word in (("fp6=0", "fp6=0"), ("fp64", "fp64"), ("fp64=2", "0 or 1"),
                      ("max_work_group=0", "at least 1"), ("local_mem=lots", "integer")):
        with pytest.raises(ValueError, match=word):
            parse(bad)
    info = get_runtime().info
    small = apply(info, "max_work_group=100000,fp64=0,int64_index=0")
    # a limit lowers what the device has, never raises it
    assert small.max_work_group == info.max_work_group and not small.fp64
    assert not small.int64_index and small.short.endswith(
        "(GRAPHNN_LIMITS=max_work_group=100000,fp64=0,int64_index=0)")
    assert apply(dataclasses.replace(info, fp64=False), "fp64=1").fp64 is False
    assert "limited by GRAPHNN_LIMITS=" in describe([small])


@contextlib.contextmanager
def limited(text: str = SMALL):
    """This process's runtime as the device ``text`` describes (what GRAPHNN_LIMITS gives
    at start-up), for the graphs compiled inside."""
    rt = get_runtime()
    saved = rt.info, rt.dialect, rt._strided
    rt.info = apply(rt.info, text)
    rt.dialect = dataclasses.replace(
        rt.dialect, max_work_group=rt.info.max_work_group, fp64=rt.info.fp64,
        int64_index=rt.info.int64_index, local_mem=rt.info.local_mem, device=rt.info.short)
    rt._strided = None
    try:
        yield rt
    finally:
        rt.info, rt.dialect, rt._strided = saved


def _conv_pool(lib, x, w, b):
    return lib.nn.functional.max_pool2d(lib.relu(lib.nn.functional.conv2d(x, w, b, padding=1)), 2)


def test_small_device_kernels_match_torch(rng):
    """Every family with work-groups of 2 and int indexing, against PyTorch."""
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    cases = [Case(_conv_pool, [f32(2, 3, 9, 10), f32(4, 3, 3, 3), f32(4)], "conv"),
             Case(lambda lib, a, b: lib.relu(matmul(lib, a, b) + 1), [f32(5, 19), f32(19, 33)],
                  "gemm"),
             Case(lambda lib, a, b: a @ b, [f32(3, 4, 7), f32(3, 7, 5)], "batched gemm"),
             Case(reduce_fn("sum_sq", (0, 2), False, (2, 0, 1)), [f32(5, 40, 3)], "sum"),
             Case(reduce_fn("argmax", (1,), True), [f32(4, 9)], "argmax", nograd=(0,))]
    with limited(), programs() as progs:
        check_all(cases)       # one program forward, one backward
        emb = G.nn.Embedding(7, 3, padding_idx=0)
        emb(G.tensor(np.array([[0, 6, 6], [1, 0, 3]]))).sum().backward()
        g = emb.weight.grad.numpy()
    sources = "".join(p.source for p in progs)
    assert progs and "int gid" in sources and "long gid" not in sources
    for p in progs:
        for launch in p.launches:
            assert launch.local_size is None or np.prod(launch.local_size) <= 2, launch
    assert np.array_equal(g.sum(1), 3 * np.array([0, 1, 0, 1, 0, 0, 2]))


def test_suite_subset_on_a_small_device(rng):
    """A representative subset of the suite, as it runs under GRAPHNN_LIMITS."""
    with limited():
        test_lenet.test_five_sgd_steps_match_torch(rng)
        test_sort.test_rows_at_the_kernel_switch(17)
        test_sort.test_rows_at_the_kernel_switch(16)
        test_kernels_scatter.test_repeated_and_equal_indices_and_gradients(rng)
        x = G.tensor(rng.standard_normal((3, 4, 5)).astype(np.float32))
        view = x.permute(2, 0, 1)[1:, :, ::2]           # the strided-copy kernel, int-indexed
        assert np.array_equal(view.contiguous().numpy(),
                              x.numpy().transpose(2, 0, 1)[1:, :, ::2])


class _Huge(G.nn.Module):
    def forward(self, x):
        return x.expand(3, 2 ** 30).sum()


def test_missing_capabilities_fail_before_any_kernel():
    x = G.ones(3, 1)
    with limited() as rt:
        launches, builds = rt.launches, rt.builds
        for make in (lambda: G.tensor(np.ones(3)), lambda: G.zeros(2, dtype=G.float64),
                     lambda: x.double(), lambda: _Huge()(x)):
            with pytest.raises(DeviceFeatureError) as err:
                make()
            # the device, marked as limited, and what it lacks
            assert "Portable" in str(err.value) or "Oclgrind" in str(err.value)
            assert "GRAPHNN_LIMITS=" in str(err.value)
            assert "cl_khr_fp64" in str(err.value) or "64-bit index math" in str(err.value)
        assert (rt.launches, rt.builds) == (launches, builds)
    # the same process keeps working on the full device
    assert G.tensor(np.ones(3)).sum().item() == 3
