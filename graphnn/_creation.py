"""Tensor factories: ``tensor``, ``zeros``, ``ones``, ``full``, ``arange`` ... and the
generator behind every random draw.

``manual_seed`` resets one numpy ``Generator``. Host-side draws (``graphnn._random`` outside
a trace, ``nn.init``, ``DataLoader`` shuffling) read it directly; device-side draws read a
``seed_source()`` tensor, which takes one number from it each time a graph runs. graphnn
reproduces PyTorch's distributions, not its random streams."""
from __future__ import annotations

import numpy as np

from graphnn.ir.types import DType, TensorType, by_name, float32, int64
from graphnn.ir.types import from_numpy as _np_dtype
from graphnn.runtime import get_runtime

_rng = np.random.default_rng(0)


def manual_seed(seed: int):
    global _rng
    _rng = np.random.default_rng(int(seed))
    return _rng


def host_rng() -> np.random.Generator:
    return _rng


def _T():
    from graphnn._tensor import Tensor
    return Tensor


def _shape(size) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    shape = tuple(int(s) for s in size)
    for s in shape:
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: "
                               f"{list(shape)}")
    return shape


def on_device(device) -> None:
    """Raises RuntimeError unless ``device`` (None: any) names graphnn's device."""
    if device is not None:
        from graphnn._device import check_device
        check_device(device)


def check_room(shape, dtype: DType, what: str = "") -> None:
    """OutOfMemoryError before host memory is filled for a tensor the device cannot hold
    (a host draw of 2**40 floats would fail in numpy, or page in terabytes)."""
    n = 1
    for s in shape:
        n *= int(s)
    get_runtime().check_alloc(n * dtype.itemsize, what)


def _dtype(dtype, default: DType = float32) -> DType:
    if dtype is None:
        return default
    return by_name(dtype) if isinstance(dtype, str) else dtype


def tensor(data, dtype: DType | None = None, device=None, requires_grad: bool = False):
    on_device(device)
    T = _T()
    if isinstance(data, T):
        dtype = dtype or data.dtype
        data = data.detach()._host()
    arr = np.asarray(data)
    # numpy arrays and numpy scalars keep their dtype (np.float64(0.1) is float64, as in
    # PyTorch); Python numbers take the defaults
    typed = isinstance(data, (np.ndarray, np.generic))
    if dtype is None:
        if arr.dtype.kind == "f":     # numpy floats keep their dtype (float16 too)
            dtype = _np_dtype(arr.dtype) if typed else float32
        elif arr.dtype.kind in "iu":
            dtype = int64 if not typed else _np_dtype(arr.dtype)
        elif arr.dtype.kind == "b":
            dtype = by_name("bool")
        else:
            raise TypeError(f"can't convert {type(data).__name__} to a graphnn tensor")
    with np.errstate(over="ignore"):     # 70000 as float16 is inf, silently as in PyTorch
        host = np.asarray(arr, dtype.np)
    out = T._wrap(get_runtime().upload(host, dtype=dtype), TensorType(arr.shape, dtype))
    if not dtype.is_float and host.size <= 1 << 20:
        # integer tensors (class indices) are validated on the host before kernels run:
        # keep the values so that the check needs no device round trip
        out._storage.remember_host(host.copy())
    if requires_grad:
        out.requires_grad_(True)
    return out


def from_numpy(arr: np.ndarray):
    """A tensor with a copy of ``arr`` (device memory cannot share the numpy buffer)."""
    return tensor(arr, dtype=_np_dtype(arr.dtype))


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    on_device(device)
    T = _T()
    if dtype is None:
        dtype = by_name("bool") if isinstance(fill_value, bool) else (
            int64 if isinstance(fill_value, int) else float32)
    t = TensorType(_shape((size,) if isinstance(size, int) else (size,)), _dtype(dtype))
    from graphnn._tensor import check_scalar_fits
    check_scalar_fits(fill_value, t.dtype)
    out = T._wrap(get_runtime().fill(t, fill_value), t)
    if requires_grad:
        out.requires_grad_(True)
    return out


def zeros(*size, dtype=None, device=None, requires_grad=False, **kw):
    on_device(device)
    size = _size_arg(size, kw)
    shape = size[0] if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
    if any(int(s) < 0 for s in shape):
        raise RuntimeError(f"zeros: Dimension size must be non-negative. (size {list(shape)})")
    return full(_shape(size), 0, dtype=_dtype(dtype), requires_grad=requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False, **kw):
    on_device(device)
    size = _size_arg(size, kw)
    return full(_shape(size), 1, dtype=_dtype(dtype), requires_grad=requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False, **kw):
    on_device(device)
    return zeros(*_size_arg(size, kw), dtype=dtype, requires_grad=requires_grad)


def _size_arg(size: tuple, kw: dict) -> tuple:
    """``zeros(2, 3)``, ``zeros((2, 3))`` or ``zeros(size=(2, 3))``; memory_format and
    pin_memory are accepted and ignored."""
    if "size" in kw:
        if size:
            raise TypeError("got multiple values for argument 'size'")
        size = (kw.pop("size"),)
    kw.pop("memory_format", None), kw.pop("pin_memory", None), kw.pop("layout", None)
    if kw:
        raise TypeError(f"got an unexpected keyword argument '{next(iter(kw))}'")
    return size


def zeros_like(t, dtype=None, requires_grad=False):
    return zeros(tuple(t.shape), dtype=dtype or t.dtype, requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return ones(tuple(t.shape), dtype=dtype or t.dtype, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None):
    return full(tuple(t.shape), fill_value, dtype=dtype or t.dtype)


def _random(arr, dtype, requires_grad):
    out = tensor(np.asarray(arr), dtype=_dtype(dtype))
    if requires_grad:
        out.requires_grad_(True)
    return out


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    on_device(device)
    if end is None:
        start, end = 0, start
    values = _arange_values(start, end, step)
    if dtype is None:
        dtype = int64 if all(isinstance(v, int) for v in (start, end, step)) else float32
    return _random(values, dtype, requires_grad)


def _arange_values(start, end, step):
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(f"upper bound and lower bound inconsistent with step sign (start "
                           f"{start}, end {end}, step {step})")
    n = max(0, -(-(end - start) // step)) if all(isinstance(v, int) for v in
                                                 (start, end, step)) else \
        max(0, int(np.ceil((end - start) / step)))
    check_room((n,), int64)
    return np.arange(start, end, step)


def linspace(start, end, steps, dtype=None, device=None):
    on_device(device)
    if steps < 0:
        raise RuntimeError(f"number of steps must be non-negative (got {steps})")
    check_room((steps,), _dtype(dtype))
    return tensor(np.linspace(start, end, steps), dtype=_dtype(dtype))


def seed_source():
    """A 0-d int64 tensor that holds a fresh seed, drawn from graphnn's generator, every time
    a graph reads it: a traced ``forward`` with dropout gets a new mask on every call."""
    return _SeedTensor()


def _seed_class():
    from graphnn._tensor import Tensor

    class _Seed(Tensor):
        def __init__(self):
            self._set_state(TensorType((), int64), None, None, False)

        def _dense(self):
            # no storage: the value is drawn on every read
            seed = np.array(_rng.integers(0, 2 ** 63 - 1), np.int64)
            return get_runtime().upload(seed, private=True), True

        def __repr__(self) -> str:
            return "<seed source>"

    return _Seed


def _SeedTensor():
    global _SEED_CLS
    try:
        cls = _SEED_CLS
    except NameError:
        cls = _SEED_CLS = _seed_class()
    return cls()


def _legacy(name: str, dtype_name: str):
    """``torch.FloatTensor(data)`` / ``torch.FloatTensor(2, 3)``: the legacy typed
    constructors (zero-filled when given sizes)."""
    def make(*args):
        dtype = by_name(dtype_name)
        if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
            return tensor(args[0].detach() if isinstance(args[0], _T()) else args[0],
                          dtype=dtype)
        return zeros(*args, dtype=dtype)
    make.__name__ = name
    return make


FloatTensor = _legacy("FloatTensor", "float32")
DoubleTensor = _legacy("DoubleTensor", "float64")
HalfTensor = _legacy("HalfTensor", "float16")
BFloat16Tensor = _legacy("BFloat16Tensor", "bfloat16")
LongTensor = _legacy("LongTensor", "int64")
IntTensor = _legacy("IntTensor", "int32")
BoolTensor = _legacy("BoolTensor", "bool")
