"""Bad input for every public module, functional op, tensor op and optimizer, generated from
the valid calls in ``tests/bad_input_specs.py``: wrong ranks and shapes, wrong dtypes,
empty tensors, negative, zero and absurd sizes, out-of-range indices.

torch 2.13 runs the same call first. Where it raises, graphnn must raise the same built-in
exception type, before any kernel runs, with a message that names the module or function
and the shape of the input (the bad size or index for those rows, the device and bytes
for an allocation that cannot succeed), and then run a normal training step. Where torch
accepts an empty tensor, graphnn must return what torch returns. Rows where torch accepts
any other variation are not bad input and are not generated. NaN/Inf inputs and devices
are in ``tests/test_bad_input_values.py``."""
from __future__ import annotations

import re
import zlib
import warnings
from functools import lru_cache

import numpy as np
import pytest

import graphnn
import torch
from graphnn.codegen import DeviceFeatureError
from graphnn.runtime import get_runtime
from tests.bad_input_specs import BAD_OPTIONS, OPTIMIZERS, SPECS, Spec, train_step

HUGE = 1 << 40      # elements: 4 TiB of float32, more than any device holds


# -- inputs and calls ---------------------------------------------------------------------
def arrays(spec: Spec) -> list[np.ndarray]:
    rng = np.random.default_rng(zlib.crc32(spec.name.encode()))
    out = []
    for a in spec.inputs:
        if a.kind == "f":
            out.append(rng.standard_normal(a.shape).astype(np.float32))
        elif a.kind == "p":
            out.append(rng.uniform(0.1, 0.9, a.shape).astype(np.float32))
        elif a.kind == "s":
            out.append(np.where(rng.random(a.shape) < 0.5, -1.0, 1.0).astype(np.float32))
        elif a.kind == "i":
            out.append(rng.integers(0, a.high, a.shape).astype(np.int64))
        elif a.kind == "b":
            out.append(rng.random(a.shape) < 0.5)
        else:
            out.append(np.array(a.value))
    return out


def primary(spec: Spec) -> int | None:
    return next((i for i, a in enumerate(spec.inputs) if a.kind == "f"), None)


_TORCH_MODULES: dict = {}


def call(T, spec: Spec, arrs: list[np.ndarray], args: tuple | None = None, like=None,
         train: bool = True):
    """Runs the spec's call in library ``T`` on ``arrs``: ``(module or None, result)``;
    ``like``: a torch module whose parameters and buffers the module takes first;
    ``train=False``: the module in eval mode (no dropout draws)."""
    args = spec.args if args is None else args
    kind, name = spec.name.split(".", 1)
    tensors = [T.tensor(a) for a in arrs]
    if kind == "nn":
        key = (id(spec), args)
        mod = _TORCH_MODULES.get(key) if T is torch else None
        if mod is None:
            mod = getattr(T.nn, name)(*args, **spec.kwargs)
            if T is torch and "Lazy" not in name:   # a lazy module takes its first shape
                _TORCH_MODULES[key] = mod
        if like is not None and "Lazy" not in name:
            mod.load_state_dict(like.state_dict())
        mod.train(train)
        return mod, mod(*tensors)
    fn = getattr(T.nn.functional if kind == "F" else T, name)
    if spec.list_input:
        return None, fn(tensors, *args, **spec.kwargs)
    if spec.names:
        named = dict(zip(spec.names, tensors[1:]))
        return None, fn(tensors[0], *args, **spec.kwargs, **named)
    return None, fn(*spec.lead, *tensors, *args, **spec.kwargs)


# -- rows ---------------------------------------------------------------------------------
def _variants(spec: Spec):
    """(category, arrays, constructor args, what the message must name) per bad call."""
    base = arrays(spec)
    p = primary(spec)
    if p is not None:
        x = base[p]

        def with_x(new):
            return [new if i == p else a for i, a in enumerate(base)]

        shape = list(x.shape)
        if x.ndim:
            yield "rank-1", with_x(x[0]), None, [x[0].shape]
        yield "rank+1", with_x(np.stack([x, x])), None, [(2, *shape)]
        if x.ndim:
            yield "rank0", with_x(np.array(x.reshape(-1)[0])), None, [()]
        # the batch only where another input must agree with it; channels and features
        dims = sorted({d for d in (0 if len(spec.inputs) > 1 else None, 1, x.ndim - 1)
                       if d is not None and 0 <= d < x.ndim})
        for d in dims:
            grown = np.concatenate([x, np.take(x, [0], axis=d)], axis=d)
            yield f"shape{d}", with_x(grown), None, [grown.shape]
        for d in sorted({0, x.ndim - 1} if x.ndim else ()):
            yield f"empty{d}", with_x(np.take(x, [], axis=d)), None, []
        yield "int64", with_x(np.round(x * 3).astype(np.int64)), None, [x.shape]
        yield "bool", with_x(x > 0), None, [x.shape]
        yield "float64", with_x(x.astype(np.float64)), None, [x.shape]
    for q, a in enumerate(spec.inputs):
        if a.kind == "i":
            for bad in (a.high, -a.high - 1):
                idx = base[q].copy()
                idx.flat[0] = bad
                yield f"index{q}={bad}", [idx if i == q else v for i, v in enumerate(base)], \
                    None, [str(bad)]
    for i in spec.sizes:
        for label, value in (("negative", -1), ("zero", 0), ("absurd", HUGE)):
            if label == "absurd" and i not in spec.alloc:
                continue
            args = tuple(value if j == i else v for j, v in enumerate(spec.args))
            # a negative size: the message gives it or a size derived from it (-4 for 4 *
            # -1); an absurd one names the device and the bytes instead (checked below)
            yield f"size{i}={label}", base, args, [re.compile(r"-\d")] if value == -1 else []


def _builtin(exc_type: type) -> type:
    """The first built-in class in ``exc_type``'s MRO (torch.OutOfMemoryError: RuntimeError)."""
    return next(c for c in exc_type.__mro__ if c.__module__ == "builtins")


@lru_cache(maxsize=None)
def torch_outcome(row_id: str):
    spec, category, arrs, args, _ = ROWS_BY_ID[row_id]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return "raises", _builtin(type(_torch_error(spec, arrs, args)))
    except _Accepted as ok:
        return "returns", ok.value


class _Accepted(Exception):
    def __init__(self, value):
        self.value = value


def _torch_error(spec, arrs, args):
    try:
        mod, out = call(torch, spec, arrs, args)
    except Exception as e:  # noqa: BLE001  (the type is what the row compares)
        return e
    raise _Accepted((mod, out))


# rows where torch's outcome is an accident of its kernels, not a rule to follow
TORCH_QUIRKS = {
    # EmbeddingBag(10, 0) raises "Expected i < index_size to be true" for some index values
    # and returns (N, 0) for others (F.embedding_bag with a (10, 0) weight): graphnn returns
    "nn.EmbeddingBag-size1=zero",
}

ROWS: list[tuple] = []
ROWS_BY_ID: dict[str, tuple] = {}
for _i, _spec in enumerate(SPECS):
    for _category, _arrs, _args, _needles in _variants(_spec):
        if f"{_spec.name}-{_category}" in TORCH_QUIRKS:
            continue
        _id = f"{_spec.name}#{_i}-{_category}"
        ROWS_BY_ID[_id] = (_spec, _category, _arrs, _args, _needles)
        ROWS.append(_id)

ERROR_ROWS = [r for r in ROWS if torch_outcome(r)[0] == "raises"]
EMPTY_ROWS = [r for r in ROWS if torch_outcome(r)[0] == "returns"
              and ROWS_BY_ID[r][1].startswith("empty")]


# -- checks -------------------------------------------------------------------------------
def mentions_shape(msg: str, shape) -> bool:
    """Whether ``msg`` gives ``shape`` as [a, b], (a, b), axb or a x b."""
    dims = [str(int(d)) for d in shape]
    forms = ["[" + ", ".join(dims) + "]", "(" + ", ".join(dims) + ("," if len(dims) == 1
                                                                   else "") + ")"]
    if len(dims) > 1:
        forms += ["x".join(dims), " x ".join(dims)]
    return any(f in msg for f in forms)


def names_where(msg: str, spec: Spec) -> bool:
    # a lazy module becomes its plain class on its first call (LazyConv1d: Conv1d)
    return spec.short.lower().removeprefix("lazy") in msg.lower()


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("row_id", ERROR_ROWS)
def test_bad_input_raises_like_torch(row_id):
    spec, category, arrs, args, needles = ROWS_BY_ID[row_id]
    want = torch_outcome(row_id)[1]
    rt = get_runtime()
    launches = rt.launches
    with pytest.raises(Exception) as err:
        call(graphnn, spec, arrs, args)
    got = err.value
    if isinstance(got, DeviceFeatureError):
        # a device without float64 (GRAPHNN_LIMITS) cannot hold the float64 input at all:
        # conftest reports the capability's error as a skip, never as a pass
        raise got
    assert isinstance(got, want), f"{type(got).__name__} instead of {want.__name__}: {got}"
    assert rt.launches == launches, "a kernel ran before the error"
    msg = str(got)
    assert names_where(msg, spec), f"{spec.short!r} not named in {msg!r}"
    if category.startswith("size") and "absurd" in category:
        assert isinstance(got, graphnn.OutOfMemoryError), msg
        assert rt.info.spec in msg and re.search(r"\d{6,} bytes", msg), msg
    for needle in needles:
        if isinstance(needle, re.Pattern):
            assert needle.search(msg), f"{needle.pattern!r} not in {msg!r}"
        elif isinstance(needle, str):
            assert needle in msg, f"{needle!r} not in {msg!r}"
        else:
            assert mentions_shape(msg, needle), f"shape {list(needle)} not in {msg!r}"
    train_step()


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("row_id", EMPTY_ROWS)
def test_empty_input_returns_like_torch(row_id):
    spec, category, arrs, args, _ = ROWS_BY_ID[row_id]
    # in eval mode, with torch's weights: the values are comparable (no dropout draws)
    with torch.no_grad():
        tmod, ref = call(torch, spec, arrs, args, train=False)
    _, out = call(graphnn, spec, arrs, args, like=tmod, train=False)
    _compare(out, ref, row_id, values="Lazy" not in spec.name)  # lazy: its own weights
    train_step()


def _compare(out, ref, what, values: bool = True):
    if isinstance(ref, torch.Tensor):
        assert isinstance(out, graphnn.Tensor), what
        assert tuple(out.shape) == tuple(ref.shape), (what, out.shape, ref.shape)
        assert str(out.dtype).split(".")[-1] == str(ref.dtype).split(".")[-1], what
        if not values:
            return
        if ref.numel() and not ref.dtype.is_floating_point:
            np.testing.assert_array_equal(out.detach().numpy(), ref.numpy(), err_msg=what)
        elif ref.numel():
            np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(),
                                       rtol=1e-5, atol=1e-6, err_msg=what)
    elif isinstance(ref, (tuple, list)):
        assert len(out) == len(ref), what
        for a, b in zip(out, ref):
            _compare(a, b, what, values)
    else:
        assert out == ref, what


def _params(kind: str):
    if kind == "empty":
        return []
    if kind == "tensor":
        return graphnn.zeros(2)
    return [graphnn.zeros(2, requires_grad=True) * 2]      # a non-leaf


# (optimizer, keyword or "params", bad value, what torch 2.13 raises, what the message names)
OPTIMIZER_ROWS = [(o, k, v, ValueError, str(v)) for o, k, v in BAD_OPTIONS] + [
    (o, "params", kind, exc, needle) for o in OPTIMIZERS for kind, exc, needle in (
        ("empty", ValueError, "empty parameter list"), ("tensor", TypeError, "iterable"),
        ("non-leaf", ValueError, "non-leaf"))]


@pytest.mark.parametrize("name,key,value,exc,needle", OPTIMIZER_ROWS,
                         ids=[f"{r[0]}-{r[1]}={r[2]}" for r in OPTIMIZER_ROWS])
def test_bad_optimizer_options(name, key, value, exc, needle):
    cls = getattr(graphnn.optim, name)
    params = _params(value) if key == "params" else [graphnn.nn.Parameter(graphnn.zeros(2))]
    rt = get_runtime()
    launches = rt.launches
    with pytest.raises(exc) as err:
        cls(params) if key == "params" else cls(params, **{key: value})
    assert rt.launches == launches
    msg = str(err.value)
    # the optimizer, and the argument: by name or by its bad value (a beta of a pair)
    values = [str(v) for v in (value if isinstance(value, tuple) else (value,))]
    assert name in msg, msg
    assert needle in msg or key.rstrip("s").lower() in msg.lower() or \
        any(v in msg for v in values), msg
    train_step()


if __name__ == "__main__":     # a report of every row, for working through the table
    import sys
    import traceback
    print(len(ROWS), "rows,", len(ERROR_ROWS), "error rows,", len(EMPTY_ROWS), "empty rows")
    only = sys.argv[1] if len(sys.argv) > 1 else ""
    fails = 0
    for row in ERROR_ROWS + EMPTY_ROWS:
        if only and not re.search(only, row):
            continue
        fn = test_bad_input_raises_like_torch if row in ERROR_ROWS else \
            test_empty_input_returns_like_torch
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fn(row)
        except BaseException as e:  # noqa: BLE001
            fails += 1
            line = str(e).replace("\n", " ")[:300]
            print(f"FAIL {row}: {type(e).__name__}: {line}", flush=True)
            if "-v" in sys.argv:
                traceback.print_exc()
    print(fails, "failures")
