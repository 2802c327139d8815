"""Random sampling with PyTorch's API: ``rand``, ``randn``, ``randint``, ``randperm``, the
``*_like`` forms, ``normal``, ``bernoulli``, ``multinomial``, and the in-place fills
``uniform_``, ``normal_``, ``bernoulli_``, ``exponential_``, ``random_``.

One generator (``manual_seed``), drawn from two ways:

- Inside a trace (a module's ``forward``, a ``graph_function``) every draw becomes graph ops
  (``graphnn._sampling``) fed by a ``seed_source()`` graph input, which takes a fresh seed
  from the generator each time the compiled graph runs: every call draws new numbers, with
  no new trace or compile, and ``manual_seed`` replays the whole sequence.
- Outside a trace, factories that take only a shape (``rand``, ``randn_like`` ...) and the
  in-place fills draw on the host with numpy and upload: no kernel to compile for each new
  shape. Functions of tensors (``normal(mean, std)``, ``bernoulli(p)``, ``multinomial``)
  check their argument values on the host as PyTorch does, then run the same graph as in a
  trace, compiled once per signature.

graphnn reproduces PyTorch's distributions, shapes, dtypes and errors, not its streams.
``generator=`` is accepted and ignored: there is one generator.
"""
from __future__ import annotations

import numpy as np

from graphnn import _creation, _inplace, _ops, _sampling, _trace
from graphnn.ir.types import DType, bool_, broadcast_shapes, by_name, float32, int64
from graphnn._tensor import SCALAR_NAMES, Tensor
from graphnn.nn.functional import graph_function
from graphnn.runtime import get_runtime

# the largest value ``random_()`` draws for each dtype (PyTorch: 2^mantissa for floats)
_RANDOM_TOP = {"float32": 1 << 24, "float64": 1 << 53, "float16": 1 << 11,
               "bfloat16": 1 << 8, "int32": 2 ** 31 - 1, "int64": 2 ** 63 - 1, "bool": 1}
_UNSET = object()
_INT_RANGE = {"bool": (0, 1, "bool"), "int32": (-2 ** 31, 2 ** 31 - 1, "int"),
              "int64": (-2 ** 63, 2 ** 63 - 1, "long")}


# -- arguments -----------------------------------------------------------------------------
def _shape(fn: str, size: tuple, kw_size=None) -> tuple[int, ...]:
    """PyTorch's ``*size`` argument: ints, or one tuple/list/Size; errors as PyTorch's."""
    if kw_size is not None:
        if size:
            raise _invalid(fn, size + ("size=tuple",))
        size = (kw_size,)
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    elif any(isinstance(s, (tuple, list)) for s in size) or (not size and fn in _SIGNATURES):
        raise _invalid(fn, size)
    out = []
    for pos, s in enumerate(size):
        if isinstance(s, Tensor) and not s.dtype.is_float and s.numel() == 1:
            s = s.item()
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"{fn}(): argument 'size' (position 1) must be tuple of ints, but "
                            f"found element of type {type(s).__name__} at pos {pos}")
        out.append(int(s))
    for s in out:
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {out}")
    return tuple(out)


_FACTORY_KW = ("*, Generator generator = None, Tensor out = None, dtype dtype = None, layout "
               "layout = None, device device = None, bool pin_memory = False, bool "
               "requires_grad = False")
_SIGNATURES = {
    "rand": [f"(tuple of ints size, {_FACTORY_KW})"],
    "randn": [f"(tuple of ints size, {_FACTORY_KW})"],
    "randint": [f"(int high, tuple of ints size, {_FACTORY_KW})",
                f"(int low, int high, tuple of ints size, {_FACTORY_KW})"],
    "normal": ["(Tensor mean, Tensor std, *, Generator generator = None, Tensor out = None)",
               "(Tensor mean, float std = 1, *, Generator generator = None, Tensor out = None)",
               "(float mean, Tensor std, *, Generator generator = None, Tensor out = None)",
               f"(float mean, float std, tuple of ints size, {_FACTORY_KW})"],
    "bernoulli": ["(Tensor input, *, Generator generator = None, Tensor out = None)",
                  "(Tensor input, float p, *, Generator generator = None)"],
}


def _invalid(fn: str, args) -> TypeError:
    """PyTorch's TypeError for arguments that match none of ``fn``'s overloads."""
    got = ", ".join(type(a).__name__ if not isinstance(a, str) else a for a in args)
    lines = "".join(f"\n * {sig}" for sig in _SIGNATURES[fn])
    return TypeError(f"{fn}() received an invalid combination of arguments - got ({got}), "
                     f"but expected one of:{lines}")


def _size_kw(fn: str, kw: dict):
    """The ``size=`` keyword of a factory; TypeError for any other unknown keyword."""
    size = kw.pop("size", None)
    for name in kw:
        raise TypeError(f"{fn}() got an unexpected keyword argument '{name}'")
    return size


def _dtype(dtype, default: DType) -> DType:
    if dtype is None:
        return default
    return by_name(dtype) if isinstance(dtype, str) else dtype


def _scalar_name(dtype: DType) -> str:
    return SCALAR_NAMES.get(dtype.name, dtype.name)


def _need_float(dtype: DType, kernel: str) -> None:
    """PyTorch's NotImplementedError for a float-only kernel asked for another dtype."""
    if not dtype.is_float:
        raise NotImplementedError(f'"{kernel}" not implemented for \'{_scalar_name(dtype)}\'')


def _num(v: float) -> str:
    """A number as PyTorch's messages print it (-1, 0.5, nan)."""
    return f"{float(v):g}"


def _check_grad_dtype(dtype: DType, requires_grad: bool) -> None:
    if requires_grad and not dtype.is_float:
        raise RuntimeError("Only Tensors of floating point and complex dtype can require "
                           "gradients")


def _traced(fn: str, requires_grad: bool = False) -> bool:
    """True inside a trace. A leaf that requires grad cannot be a graph value: the forward
    then runs op by op (each call still draws anew)."""
    if _trace.current() is None:
        return False
    if requires_grad:
        raise _trace.GraphBreak(f"{_trace._user_line()}: {fn}(..., requires_grad=True) inside "
                                "a traced forward")
    return True


def _host(arr: np.ndarray, dtype: DType, requires_grad: bool = False) -> Tensor:
    out = _creation.tensor(np.asarray(arr).astype(dtype.np, copy=False), dtype=dtype)
    if requires_grad:
        out.requires_grad_(True)
    return out


def _rng() -> np.random.Generator:
    return _creation.host_rng()


def _np_float(dtype: DType):
    # numpy draws float32 directly: a float64 draw rounded to float32 can reach 1.0
    return np.float32 if dtype.name != "float64" else np.float64


# -- factories -----------------------------------------------------------------------------
def rand(*size, generator=None, out=None, dtype=None, layout=None, device=None,
         requires_grad: bool = False, pin_memory: bool = False, **kw) -> Tensor:
    """U[0, 1) of ``size``, float32 unless ``dtype`` (a float dtype; NotImplementedError
    otherwise, as PyTorch's "check_uniform_bounds")."""
    _creation.on_device(device)
    shape = _shape("rand", size, _size_kw("rand", kw))
    dt = _dtype(dtype, float32)
    _need_float(dt, "check_uniform_bounds")
    if _traced("rand", requires_grad):
        return _sampling.uniform(shape, dt)
    _creation.check_room(shape, dt)
    values = _rng().random(shape, dtype=_np_float(dt))
    if dt.low_precision:        # multiples of 2^-digits: none rounds up to 1
        scale = float(1 << _sampling.MANTISSA_DIGITS[dt.name])
        values = np.floor(values * scale) / scale
    return _host(values, dt, requires_grad)


def randn(*size, generator=None, out=None, dtype=None, layout=None, device=None,
          requires_grad: bool = False, pin_memory: bool = False, **kw) -> Tensor:
    """N(0, 1) of ``size``, float32 unless ``dtype`` (a float dtype)."""
    _creation.on_device(device)
    shape = _shape("randn", size, _size_kw("randn", kw))
    dt = _dtype(dtype, float32)
    _need_float(dt, "normal_kernel_cpu")
    if _traced("randn", requires_grad):
        return _sampling.standard_normal(shape, dt)
    _creation.check_room(shape, dt)
    return _host(_rng().standard_normal(shape, dtype=_np_float(dt)), dt, requires_grad)


def _check_int_range(low: int, high: int, dtype: DType) -> None:
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} "
                           f">= to={high}")
    if dtype.name in _INT_RANGE:
        lo, hi, name = _INT_RANGE[dtype.name]
        if not lo <= low <= hi:
            raise RuntimeError(f"from is out of bounds for {name}")
        if not lo <= high - 1 <= hi:
            raise RuntimeError(f"to - 1 is out of bounds for {name}")


def _integers(fn: str, shape, low: int, high: int, dt: DType, requires_grad: bool) -> Tensor:
    _check_grad_dtype(dt, requires_grad)
    _check_int_range(low, high, dt)
    if _traced(fn, requires_grad):
        return _sampling.integers(shape, low, high, dt)
    _creation.check_room(shape, int64)
    return _host(_rng().integers(low, high, size=shape, dtype=np.int64, endpoint=False)
                 if high - low <= 2 ** 63 else _wide_integers(low, high, shape), dt,
                 requires_grad)


def _wide_integers(low: int, high: int, shape) -> np.ndarray:
    # numpy's int64 draws stop at 2^63 values; a wider range takes a uint64 draw modulo
    span = np.uint64(high - low)
    raw = _rng().integers(0, 2 ** 64, size=shape, dtype=np.uint64, endpoint=False)
    return (raw % span + np.uint64(low & (2 ** 64 - 1))).view(np.int64)


def _int_arg(fn: str, name: str, pos: int, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{fn}(): argument '{name}' (position {pos}) must be int, not "
                        f"{type(v).__name__}")
    return int(v)


def randint(*args, low=None, high=None, size=None, generator=None, out=None, dtype=None,
            layout=None, device=None, requires_grad: bool = False,
            pin_memory: bool = False) -> Tensor:
    """``randint(high, size)`` or ``randint(low, high, size)``: integers uniform in
    [low, high), int64 unless ``dtype``. RuntimeError when low >= high or the range does not
    fit ``dtype``, as PyTorch."""
    _creation.on_device(device)
    given = list(args) + [v for v in (low, high) if v is not None]
    if size is None and given and isinstance(given[-1], (tuple, list)):
        size = given.pop()
    if size is None or len(given) not in (1, 2):
        raise _invalid("randint", args)
    if len(given) == 1:
        given = [0] + given
    lo = _int_arg("randint", "low", 1, given[0])
    hi = _int_arg("randint", "high", 2, given[1])
    shape = _shape("randint", (size,))
    return _integers("randint", shape, lo, hi, _dtype(dtype, int64), requires_grad)


def randperm(n: int, *, generator=None, out=None, dtype=None, layout=None, device=None,
             requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """A random permutation of 0..n-1, int64 unless ``dtype``. In a trace: ranks of random
    keys, O(n^2) comparisons (meant for the small n a forward permutes)."""
    _creation.on_device(device)
    n = _int_arg("randperm", "n", 1, n)
    dt = _dtype(dtype, int64)
    if n < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {n}: [{n}]")
    if dt == bool_:
        raise NotImplementedError("\"randperm\" not implemented for 'Bool'")
    _check_grad_dtype(dt, requires_grad)
    if _traced("randperm", requires_grad):
        return _sampling.randperm(n, dt)
    _creation.check_room((n,), int64)
    return _host(_rng().permutation(n), dt, requires_grad)


def rand_like(input: Tensor, *, dtype=None, layout=None, device=None,
              requires_grad: bool = False, memory_format=None) -> Tensor:
    _creation.on_device(device)
    return rand(tuple(input.shape), dtype=_dtype(dtype, input.dtype),
                requires_grad=requires_grad)


def randn_like(input: Tensor, *, dtype=None, layout=None, device=None,
               requires_grad: bool = False, memory_format=None) -> Tensor:
    """N(0, 1) of ``input``'s shape and dtype; never carries a gradient to ``input``."""
    _creation.on_device(device)
    return randn(tuple(input.shape), dtype=_dtype(dtype, input.dtype),
                 requires_grad=requires_grad)


def randint_like(input: Tensor, low=0, high=None, *, dtype=None, layout=None, device=None,
                 requires_grad: bool = False, memory_format=None) -> Tensor:
    """``randint_like(input, high)`` or ``(input, low, high)``: input's shape and dtype."""
    _creation.on_device(device)
    if high is None:
        low, high = 0, low
    return _integers("randint_like", tuple(input.shape),
                     _int_arg("randint_like", "low", 2, low),
                     _int_arg("randint_like", "high", 3, high),
                     _dtype(dtype, input.dtype), requires_grad)


# -- functions of tensors --------------------------------------------------------------------
def _host_values(t: Tensor) -> np.ndarray | None:
    """``t``'s values for an argument check, or None inside a trace (not known yet)."""
    if _trace.current() is not None or t._sym is not None:
        return None
    return t.detach()._host()


def _broadcast(a: tuple, b: tuple) -> tuple[int, ...]:
    try:
        return broadcast_shapes(a, b)
    except ValueError:
        for i in range(1, max(len(a), len(b)) + 1):
            x = a[-i] if i <= len(a) else 1
            y = b[-i] if i <= len(b) else 1
            if x != y and 1 not in (x, y):
                raise RuntimeError(f"The size of tensor a ({x}) must match the size of tensor "
                                   f"b ({y}) at non-singleton dimension "
                                   f"{max(len(a), len(b)) - i}") from None
        raise


def _check_expands(small: tuple, shape: tuple) -> None:
    """PyTorch's error when ``small`` does not expand to ``shape``."""
    lead = len(shape) - len(small)
    for d, s in enumerate(small):
        if lead < 0 or s not in (1, shape[lead + d]):
            dim = lead + d
            target = shape[dim] if 0 <= dim < len(shape) else 0
            raise RuntimeError(f"The expanded size of the tensor ({target}) must match the "
                               f"existing size ({s}) at non-singleton dimension {dim}.  "
                               f"Target sizes: {list(shape)}.  Tensor sizes: {list(small)}")


_normal_graph = graph_function(_sampling.normal)
_bernoulli_graph = graph_function(_sampling.bernoulli)
_multinomial_graph = graph_function(_sampling.multinomial)


def normal(mean, std=1.0, size=None, *, generator=None, out=None, dtype=None, layout=None,
           device=None, pin_memory: bool = False, requires_grad: bool = False) -> Tensor:
    """Samples of N(mean, std^2), PyTorch's four overloads: ``normal(mean: Tensor, std=1.0)``,
    ``normal(mean: float, std: Tensor)``, ``normal(mean: Tensor, std: Tensor)`` (broadcast;
    the result has mean's dtype, else std's) and ``normal(mean: float, std: float, size)``
    (float32 unless ``dtype``). As in PyTorch the result requires grad when mean or std does
    and back-propagates zeros to them (no reparameterisation: write ``mean + std *
    randn_like(std)`` for that). RuntimeError for a negative std."""
    _creation.on_device(device)
    t_mean, t_std = isinstance(mean, Tensor), isinstance(std, Tensor)
    if not t_mean and not t_std:
        if size is None:
            raise _invalid("normal", (mean, std))
        if not float(std) >= 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {_num(std)}")
        shape = _shape("normal", (size,))
        dt = _dtype(dtype, float32)
        _need_float(dt, "normal_kernel_cpu")
        if _traced("normal", requires_grad):
            return _sampling.normal(float(mean), float(std), shape, dt)
        _creation.check_room(shape, dt)
        arr = _rng().standard_normal(shape, dtype=_np_float(dt)) * float(std) + float(mean)
        return _host(arr, dt, requires_grad)
    if size is not None:
        raise _invalid("normal", (mean, std, size))
    dt = mean.dtype if t_mean else std.dtype
    _need_float(dt, "normal_kernel_cpu")
    if t_std:
        values = _host_values(std)
        if values is not None and values.size and not np.all(values >= 0):
            raise RuntimeError("normal expects all elements of std >= 0.0")
    elif not float(std) >= 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {_num(std)}")
    if t_mean and t_std:
        shape = _broadcast(tuple(mean.shape), tuple(std.shape))
        name = "NormalBackward3"
    else:
        shape = tuple((mean if t_mean else std).shape)
        name = "NormalBackward1" if t_mean else "NormalBackward2"
    if _trace.current() is not None:
        res = _sampling.normal(mean if t_mean else float(mean), std if t_std else float(std),
                               shape, dt)
    else:   # a float becomes a 0-d input: a new value needs no new compile
        res = _normal_graph(*(v if isinstance(v, Tensor) else _creation.tensor(float(v), dt)
                              for v in (mean, std)), shape, dt)
    return _ops._named(res, name, *(t for t in (mean, std) if isinstance(t, Tensor)))


def _check_p(values: np.ndarray | None) -> None:
    if values is not None and values.size and not np.all((values >= 0) & (values <= 1)):
        raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.  "
                           "(Could this error message be improved?  If so, please report an "
                           "enhancement request to PyTorch.)")


def _check_p_float(p) -> float:
    if not 0 <= float(p) <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={_num(p)}")
    return float(p)


def bernoulli(input: Tensor, p=None, *, generator=None, out=None) -> Tensor:
    """``bernoulli(probs)``: 1 with probability probs (float) else 0, in probs' dtype; the
    result requires grad when probs does and back-propagates zeros, as PyTorch's.
    ``bernoulli(input, p)``: a float p for every element, in input's shape and dtype."""
    if p is None:
        _need_float(input.dtype, "bernoulli_tensor_cpu_p_")
        _check_p(_host_values(input))
        res = _bernoulli_graph(input, tuple(input.shape), input.dtype)
        return _ops._named(res, "BernoulliBackward0", input)
    if isinstance(p, Tensor):
        raise _invalid("bernoulli", (input, p))
    p = _check_p_float(p)
    shape = tuple(input.shape)
    if _traced("bernoulli"):
        return _sampling.bernoulli(p, shape, input.dtype)
    return _host(_rng().random(shape) < p, input.dtype)


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *,
                generator=None, out=None) -> Tensor:
    """Indices (int64) of ``num_samples`` categories drawn from each row of ``input`` ((K,)
    or (B, K) non-negative weights, not necessarily normalised), with or without
    replacement; (num_samples,) or (B, num_samples). Errors as PyTorch's; the value checks
    (negative, inf or nan weights, a zero row) run outside a trace only. Without replacement
    a row with fewer non-zero weights than samples continues with zero-weight categories, as
    PyTorch's does."""
    num_samples = _int_arg("multinomial", "num_samples", 2, num_samples)
    if input.dim() not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if not input.dtype.is_float:
        raise RuntimeError("multinomial only supports floating-point dtypes for input, got: "
                           f"{_scalar_name(input.dtype)}")
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    k = input.shape[-1]
    if not replacement and num_samples > k:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without "
                           "replacement")
    values = _host_values(input)
    if values is not None and values.size:
        if not np.all(np.isfinite(values) & (values >= 0)):
            raise RuntimeError("probability tensor contains either `inf`, `nan` or element "
                               "< 0")
        if np.any(values.reshape(-1, k).sum(axis=1) <= 0):
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    elif values is not None and k == 0:
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    return _multinomial_graph(input, num_samples, bool(replacement))


# -- in-place fills ------------------------------------------------------------------------
def _fill(self: Tensor, name: str, host, graph) -> Tensor:
    """Replaces ``self``'s values with a fresh sample in place (``graphnn._inplace``: views,
    version counters and history as for any in-place op).

    Outside a trace ``host()`` gives a numpy array of self's shape, drawn on the host; the
    result carries no gradient (PyTorch keeps a node that back-propagates zeros). Inside a
    trace ``graph()`` gives the sample as a graph value fed by a fresh seed per call; a real
    tensor filled there (a buffer) is written back after every call."""
    if _trace.current() is None:
        values = np.ascontiguousarray(np.asarray(host()).astype(self.dtype.np, copy=False))
        return _inplace.inplace(self, name, lambda t: Tensor._wrap(
            get_runtime().upload(values, dtype=self.dtype), self._type), casting="unsafe")
    return _inplace.inplace(self, name, lambda t: graph(), casting="unsafe")


def uniform_(self: Tensor, from_: float = 0.0, to: float = 1.0, *, generator=None,
             **kw) -> Tensor:
    """Fills with U[from, to) in place (a float tensor)."""
    from_, to = float(kw.pop("from", from_)), float(to)
    _need_float(self.dtype, "check_uniform_bounds")
    if from_ > to:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found "
                           f"from={_num(from_)} > to={_num(to)}")
    shape = tuple(self.shape)

    def graph():
        u = _sampling.uniform(shape, self.dtype)
        return u if (from_, to) == (0.0, 1.0) else _ops.add(_ops.mul(u, to - from_), from_)

    return _fill(self, "uniform_", lambda: _rng().uniform(from_, to, shape), graph)


def normal_(self: Tensor, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
    """Fills with N(mean, std^2) in place (a float tensor; std >= 0)."""
    _need_float(self.dtype, "normal_kernel_cpu")
    if not float(std) >= 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {_num(std)}")
    shape = tuple(self.shape)
    return _fill(self, "normal_", lambda: _rng().normal(mean, std, shape),
                 lambda: _sampling.normal(float(mean), float(std), shape, self.dtype))


def bernoulli_(self: Tensor, p=0.5, *, generator=None) -> Tensor:
    """Fills with 1 (probability p) or 0 in place, any dtype; ``p`` a float or a float
    tensor that broadcasts to self's shape."""
    shape = tuple(self.shape)
    if isinstance(p, Tensor):
        _need_float(p.dtype, "bernoulli_tensor_cpu_p_")
        _check_expands(tuple(p.shape), shape)
        values = _host_values(p)
        _check_p(values)

        def host():
            return _rng().random(shape) < np.broadcast_to(values, shape)
    else:
        p = _check_p_float(p)

        def host():
            return _rng().random(shape) < p

    return _fill(self, "bernoulli_", host, lambda: _sampling.bernoulli(p, shape, self.dtype))


def exponential_(self: Tensor, lambd: float = 1.0, *, generator=None) -> Tensor:
    """Fills with Exp(lambd) samples in place (a float tensor; lambd > 0)."""
    if not self.dtype.is_float:
        raise RuntimeError("Exponential distribution is a continuous probability "
                           "distribution. dtype must be a floating point but you specified "
                           f"{_scalar_name(self.dtype)}")
    if not float(lambd) > 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda="
                           f"{_num(lambd)}")
    shape = tuple(self.shape)
    return _fill(self, "exponential_", lambda: _rng().exponential(1.0 / lambd, shape),
                 lambda: _sampling.exponential(shape, self.dtype, float(lambd)))


def random_(self: Tensor, from_=None, to=_UNSET, *, generator=None, **kw) -> Tensor:
    """``random_()``: integers in [0, 2^mantissa] for floats, [0, max] for integer dtypes;
    ``random_(to)``: [0, to); ``random_(from, to)``: [from, to); ``to=None``: up to max."""
    top = _RANDOM_TOP[self.dtype.name] + 1
    if "from" in kw:
        from_ = kw.pop("from")
        to = None if to is _UNSET else to
    if to is _UNSET:    # random_() or random_(to)
        low, high = 0, top if from_ is None else _int_arg("random_", "to", 1, from_)
    else:
        low = 0 if from_ is None else _int_arg("random_", "from", 1, from_)
        high = top if to is None else _int_arg("random_", "to", 2, to)
    _check_int_range(low, high, self.dtype)
    shape = tuple(self.shape)

    def host():
        if high - low <= 2 ** 63:
            return _rng().integers(low, high, size=shape, dtype=np.int64)
        return _wide_integers(low, high, shape)

    return _fill(self, "random_", host,
                 lambda: _sampling.integers(shape, low, high, self.dtype))


def install(T) -> None:
    """Attaches the random methods to the Tensor class."""
    T.uniform_, T.normal_, T.bernoulli_ = uniform_, normal_, bernoulli_
    T.exponential_, T.random_ = exponential_, random_
    T.bernoulli = bernoulli
    T.multinomial = multinomial


__all__ = ["rand", "randn", "randint", "randperm", "rand_like", "randn_like", "randint_like",
           "normal", "bernoulli", "multinomial", "install"]
