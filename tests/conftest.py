"""Shared test helpers: PyTorch 2.13.0 is the numerical oracle."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("GRAPHNN_VERIFY", "1")   # Graph.verify() after every pass in tests
# kernel configurations by rule, not by measurement: the same kernels on every run (each
# candidate a tuner may pick is tested on its own in test_tuning.py)
os.environ.setdefault("GRAPHNN_TUNE", "0")

import graphnn  # noqa: E402

import torch  # noqa: E402  (test-only dependency, pinned to 2.13.0)
torch.set_num_threads(1)


def to_numpy(t) -> np.ndarray:
    if isinstance(t, graphnn.Tensor):
        return t.detach().numpy()
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().numpy()
    return np.asarray(t)


def assert_close(ours, ref, rtol: float = 1e-4, atol: float = 1e-5, what: str = "") -> None:
    a, b = to_numpy(ours), to_numpy(ref)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)


@pytest.fixture
def direct_convolutions():
    """Every convolution on its direct kernel (none as a GEMM over im2col columns), whatever
    this device's vectors: for the direct kernels' own tables."""
    from tests.kernel_check import conv_path
    with conv_path("direct"):
        yield


def pair(array: np.ndarray, requires_grad: bool = False):
    """The same values as a graphnn tensor and a torch tensor."""
    g = graphnn.tensor(array)
    t = torch.tensor(array)
    if requires_grad:
        g.requires_grad_(True)
        t.requires_grad_(True)
    return g, t


# The kernel suites build with PoCL's full LLVM optimisation, as users run. The layer and API
# suites check what the generated source computes and build it with -cl-opt-disable, which
# cuts PoCL's build time by 40% (tests/test_attention.py: 99 s -> 60 s with cold caches) and
# keeps the suite within its time budget; the source and the kernel families are the same.
OPTIMISED_SUITES = ("test_kernels_", "test_boundaries_", "test_fuzz_", "test_lenet",
                    "test_oclgrind", "test_runtime", "test_split_reduce")
_USER_OPTIONS = os.environ.get("GRAPHNN_CL_OPTIONS")


def _drain() -> None:
    """Waits for every queued command. PoCL links a kernel's work-group function on a worker
    thread when it is first launched, spawning the linker with the process's ``environ``;
    changing the environment meanwhile (``setenv`` may move that array) made the spawn fail
    with EFAULT ("posix_spawn failed: Bad address") and killed the test worker. Every
    environment change in the tests waits for the queue first."""
    from graphnn.runtime import get_runtime
    finish = getattr(get_runtime(), "finish", None)
    if finish is not None:
        finish()


def _draining(method):
    def changed_env(self, *args, **kwargs):
        _drain()
        return method(self, *args, **kwargs)
    return changed_env


for _name in ("setenv", "delenv", "undo"):
    setattr(pytest.MonkeyPatch, _name, _draining(getattr(pytest.MonkeyPatch, _name)))


@pytest.fixture(autouse=True)
def _build_options(request):
    name = request.module.__name__.rsplit(".", 1)[-1]
    if _USER_OPTIONS is not None or name.startswith(OPTIMISED_SUITES):
        yield
        return
    _drain()
    os.environ["GRAPHNN_CL_OPTIONS"] = "-cl-opt-disable"
    try:
        yield
    finally:
        _drain()
        os.environ.pop("GRAPHNN_CL_OPTIONS", None)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


# Under GRAPHNN_LIMITS (a smaller device simulated on this one, runtime/limits.py) a test
# that needs what the limited device lacks (float64, 64-bit index math or atomics) ends in
# graphnn's DeviceFeatureError naming the device and the capability: that is the expected
# outcome there, reported as a skip with the error's text, never as a pass.
if os.environ.get("GRAPHNN_LIMITS"):
    from graphnn.codegen import DeviceFeatureError

    def _only_device_features(exc: BaseException) -> bool:
        """A DeviceFeatureError, or a group of nothing else (hypothesis reports the
        distinct failures of a fuzz test, float64 examples raising at two places, as one
        ExceptionGroup)."""
        if isinstance(exc, BaseExceptionGroup):
            return exc.split(DeviceFeatureError)[1] is None
        return isinstance(exc, DeviceFeatureError)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(item, call):
        outcome = yield
        report = outcome.get_result()
        if report.failed and call.excinfo is not None and _only_device_features(
                call.excinfo.value):
            exc = call.excinfo.value
            while isinstance(exc, BaseExceptionGroup):
                exc = exc.exceptions[0]         # the capability, named by the first
            report.outcome = "skipped"
            report.longrepr = (str(item.path), item.location[1] or 0,
                               f"GRAPHNN_LIMITS: {exc}")
