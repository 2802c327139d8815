"""In-place ops: ``add_``, ``mul_``, ``copy_``, ``fill_``, ``relu_`` ..., ``x[i] = v``.

Every in-place op computes its result with the ordinary (functional) ops, then stores it:

- eagerly without autograd, the result is written into the tensor's memory
  (``Tensor._write``): every view of the storage sees it and the version counter moves;
- eagerly under autograd, the tensor also takes over the result's history, as PyTorch
  rebases ``grad_fn``. A write through a view rebuilds the whole base with the view's
  region replaced (``scatter_back``), and the base takes that history; the other views of
  the base rebuild theirs from it when next read (``graphnn._views._replay``);
- while tracing, the write is functional: the tensor is rebound to the result's node and a
  write through a view rebinds its base to ``scatter_back``'s node. Real tensors written in
  a trace are written back after each call (``graphnn._compile.call_traced``).

``scatter_back`` inverts a view chain with ordinary ops (reshape and permute are
invertible; a slice is put back with ``slice_grad`` under a mask), so the update fuses like
any elementwise code and its gradient comes from the ops' own VJPs."""
from __future__ import annotations

from graphnn import _ops, _views, autograd
from graphnn._dispatch import apply
from graphnn._storage import Storage, VersionCounter
from graphnn._tensor import SCALAR_NAMES, Tensor, check_scalar_fits
from graphnn._trace import current
from graphnn.ir.types import broadcast_shapes, bool_, int32, int64



def inplace(self: Tensor, name: str, fn, *operands, casting: str = "same_kind") -> Tensor:
    """Runs ``self = fn(self)`` in place; ``operands`` are the other inputs of ``fn``."""
    _check_leaf(self, name)
    tracer = current()
    if tracer is not None:
        _traced_store(tracer, self, _fit(self, fn(self), casting))
        return self
    grad = autograd.is_grad_enabled() and (self.requires_grad or any(
        isinstance(o, Tensor) and o.requires_grad for o in operands))
    if not grad:
        with autograd.no_grad():
            new = _fit(self, fn(self), casting)
        _store(self, new, operands)
        return self
    if self._base is None:
        new = _fit(self, fn(_frozen(self, self)), casting)
        _store(self, new, operands)
        self._take_history(new)
        return self
    root = self._base
    new = _fit(self, fn(_frozen(self, root)), casting)
    new_root = scatter_back(_frozen(root, root), self._view_chain, new)
    _store(root, new_root, (new,) + operands)
    root._take_history(new_root)
    return self


def _check_leaf(t: Tensor, name: str) -> None:
    if not autograd.is_grad_enabled():
        return
    if t.requires_grad and _is_leaf(t):
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                           "operation.")
    base = t._base
    if base is not None and base.requires_grad and _is_leaf(base):
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                           "in-place operation.")


def _is_leaf(t: Tensor) -> bool:
    """Leaves are tensors without history; while tracing, only the symbolic stand-ins of
    leaf arguments are (intermediate values have history in the graph)."""
    return t.is_leaf if t._sym is None else getattr(t, "_traced_leaf", False)


def _fit(t: Tensor, new, casting: str) -> Tensor:
    """``new`` broadcast to ``t``'s shape and converted to its dtype, or PyTorch's error."""
    if not isinstance(new, Tensor):
        new = _filled(tuple(t.shape), t.dtype, new)
    if tuple(new.shape) != tuple(t.shape):
        try:
            ok = broadcast_shapes(tuple(new.shape), tuple(t.shape)) == tuple(t.shape)
        except ValueError:
            ok = False
        if not ok:
            raise RuntimeError(f"output with shape {list(t.shape)} doesn't match the broadcast "
                               f"shape {list(broadcast_shapes_or(new.shape, t.shape))}")
        new = _views.expand(new, tuple(t.shape))
    if new.dtype != t.dtype:
        if casting == "same_kind" and new.dtype.is_float and not t.dtype.is_float:
            raise RuntimeError(f"result type {SCALAR_NAMES.get(new.dtype.name)} can't be cast "
                               f"to the desired output type {SCALAR_NAMES.get(t.dtype.name)}")
        new = _ops.to_dtype(new, t.dtype)
    return new


def broadcast_shapes_or(a, b) -> tuple:
    try:
        return broadcast_shapes(tuple(a), tuple(b))
    except ValueError:
        return tuple(a)


def _filled(shape: tuple, dtype, value) -> Tensor:
    """A tensor of ``shape`` holding the Python scalar ``value`` (converted to ``dtype``)."""
    from graphnn.ir.types import TensorType
    tracer = current()
    if tracer is None:
        return Tensor._full(TensorType(tuple(shape), dtype), value)
    from graphnn.ir.builder import Sym
    from graphnn._dispatch import scalar_dtype
    c = Tensor._symbolic(Sym(tracer.graph, tracer.const(value, scalar_dtype(value, dtype))),
                         False)
    return _views.expand(c, tuple(shape)) if shape else c


def _frozen(t: Tensor, written: Tensor) -> Tensor:
    """``t``'s value and history as a tensor that the coming write of ``written`` cannot
    change: a write that covers ``written``'s storage replaces its buffer, so the old buffer
    can be shared; a partial write copies into it, so ``t`` is copied first."""
    out = object.__new__(Tensor)
    if written._covers_storage():
        st = t._storage
        out._set_state(t._type, Storage(st.buf, st.nbytes), None, False, t._offset,
                       t._strides, VersionCounter())
    else:
        buf, private = t._dense()
        if not private:
            buf = _copy(t, buf)
        out._set_state(t._type, Storage(buf, t.numel() * t.element_size()), None, False)
    out._take_history(t)
    return out


def _copy(t: Tensor, buf):
    from graphnn.runtime import get_runtime
    rt = get_runtime()
    copy = rt.alloc(t._type)
    rt.copy_into(copy, buf, t.numel() * t.element_size())
    return copy


def _store(target: Tensor, new: Tensor, operands) -> None:
    """Writes ``new``'s values into ``target``'s memory. ``new``'s buffer may become the
    storage when nobody else can reach it (a fresh result, not an operand's storage)."""
    buf, private = new._dense()
    if not private:
        shared = {id(o._storage) for o in operands if isinstance(o, Tensor)}
        private = (new._covers_storage() and new._storage is not target._storage and
                   id(new._storage) not in shared)
    target._write(buf, private)


def _traced_store(tracer, t: Tensor, new: Tensor) -> None:
    if new._sym is None:    # a real tensor (made in forward, or an operand) is captured
        new = tracer.value_of(new)
    if t._base is not None:
        root = t._base
        new_root = scatter_back(tracer.value_of(root), t._view_chain, new)
        tracer.write_root(root, new_root)
        if t._sym is not None:   # the view itself now reads the new values
            t._sym, t._base_seen = new._sym, tracer.current_node(root)
        return
    tracer.write_root(t, new)


def scatter_back(base: Tensor, chain, value: Tensor) -> Tensor:
    """``base`` with the region that view chain ``chain`` selects replaced by ``value``
    (PyTorch's ``slice_scatter``/``as_strided_scatter``), built from invertible steps."""
    if not chain:
        return value
    op, attrs = chain[0]
    inner = apply(op, base, **attrs)
    new_inner = scatter_back(inner, chain[1:], value)
    if op == "detach":
        return new_inner
    if op == "reshape":
        return _views.reshape(new_inner, tuple(base.shape))
    if op == "permute":
        inverse = [0] * len(attrs["dims"])
        for i, d in enumerate(attrs["dims"]):
            inverse[d] = i
        return _views.permute(new_inner, inverse)
    if op == "slice":
        region = dict(shape=tuple(base.shape), starts=attrs["starts"], steps=attrs["steps"])
        mask = apply("slice_grad", _filled(tuple(inner.shape), bool_, True), **region)
        return apply("where", mask, apply("slice_grad", new_inner, **region), base)
    raise RuntimeError("unsupported operation: more than one element of the written-to tensor "
                       "refers to a single memory location. Please clone() the tensor before "
                       "performing the operation.")


# -- the in-place ops ---------------------------------------------------------------------
def copy_(self, src, non_blocking: bool = False) -> Tensor:
    if not isinstance(src, Tensor):
        from graphnn._creation import tensor
        src = tensor(src, dtype=self.dtype)
    return inplace(self, "copy_", lambda t: src, src, casting="unsafe")


def fill_(self, value) -> Tensor:
    if isinstance(value, Tensor):
        if value.dim() != 0:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor "
                               f"with {value.dim()} dimensions.")
        return inplace(self, "fill_", lambda t: value, value, casting="unsafe")
    check_scalar_fits(value, self.dtype)
    return inplace(self, "fill_", lambda t: value, casting="unsafe")


def zero_(self) -> Tensor:
    return fill_(self, 0)


def _binary_inplace(name: str, fn):
    def method(self, other, *args, **kwargs):
        return inplace(self, name, lambda t: fn(t, other, *args, **kwargs), other)
    method.__name__ = name
    return method


def _unary_inplace(name: str, fn):
    def method(self, *args, **kwargs):
        return inplace(self, name, lambda t: fn(t, *args, **kwargs))
    method.__name__ = name
    return method


def clamp_(self, min=None, max=None) -> Tensor:
    return inplace(self, "clamp_", lambda t: _ops.clamp(t, min, max), min, max)


def masked_fill_(self, mask, value) -> Tensor:
    return inplace(self, "masked_fill_", lambda t: _ops.masked_fill(t, mask, value), value)


def addcmul_(self, tensor1, tensor2, value=1) -> Tensor:
    return inplace(self, "addcmul_", lambda t: _ops.addcmul(t, tensor1, tensor2, value=value),
                   tensor1, tensor2)


def addcdiv_(self, tensor1, tensor2, value=1) -> Tensor:
    return inplace(self, "addcdiv_", lambda t: _ops.addcdiv(t, tensor1, tensor2, value=value),
                   tensor1, tensor2)


def lerp_(self, end, weight) -> Tensor:
    return inplace(self, "lerp_", lambda t: _ops.lerp(t, end, weight), end, weight)


# -- item assignment ----------------------------------------------------------------------
def setitem(self, index, value) -> None:
    """``x[index] = value``: basic indices write through a view; a bool mask or one integer
    index tensor write the selected elements (``index_put_``)."""
    if not isinstance(index, tuple):
        index = (index,)
    if len(index) == 1 and isinstance(index[0], Tensor) and index[0].dtype == bool_:
        _masked_store(self, index[0], value)
        return
    view, dim, idx, _ = _views.basic_index(self, index)
    if idx is None:
        copy_(view, value) if isinstance(value, Tensor) else fill_(view, value)
        return
    inplace(view, "index_put_", lambda t: index_put(t, dim, idx, value), value,
            casting="unsafe")


def _masked_store(self, mask: Tensor, value) -> None:
    if tuple(mask.shape) != tuple(self.shape[:mask.dim()]):
        raise IndexError(f"The shape of the mask {list(mask.shape)} at index 0 does not match "
                         f"the shape of the indexed tensor {list(self.shape)} at index 0")
    if isinstance(value, Tensor) and value.dim() and \
            tuple(value.shape) != tuple(self.shape[mask.dim():])[-value.dim():]:
        raise NotImplementedError("x[mask] = values with one value per selected element is not "
                                  "supported; use torch.where(mask, values, x)")
    m = _views.reshape(mask, tuple(mask.shape) + (1,) * (self.dim() - mask.dim()))
    inplace(self, "index_put_", lambda t: _ops.where(m, value, t), value, casting="unsafe")


def index_put(t: Tensor, dim: int, index: Tensor, value) -> Tensor:
    """``t`` with ``t[..., index[k], ...] = value[..., k, ...]`` along ``dim``; for repeated
    indices the last one wins (PyTorch's CPU order)."""
    size = t.shape[dim]
    flat = _views.reshape(_views.normalize_index(index, size, dim), (-1,))
    k = flat.shape[0]
    vshape = tuple(t.shape[:dim]) + tuple(index.shape) + tuple(t.shape[dim + 1:])
    rows = tuple(t.shape[:dim]) + (k,) + tuple(t.shape[dim + 1:])
    if isinstance(value, Tensor):
        v = _views.reshape(_views.expand(value, vshape), rows)
    else:
        v = _filled(rows, t.dtype, value)
    if v.dtype != t.dtype:
        v = _ops.to_dtype(v, t.dtype)
    # position + 1 of the last k with flat[k] == j, 0 where no k hits row j: an atomic
    # maximum per row, O(k + size) (a k x size comparison was 30M for an embedding table)
    # (32-bit positions: native atomic_max on every device)
    last = _ops.to_dtype(apply("scatter_max", _filled((size,), int32, 0), flat,
                               apply("iota", shape=(k,), axis=0, dtype=int32.name) + 1,
                               axis=0), int64)
    shape = [1] * t.dim()
    shape[dim] = size
    chosen = _views.expand(_views.reshape(_ops.clamp(last - 1, min=0), shape), tuple(t.shape))
    picked = _views.gather(v, dim, chosen)
    return _ops.where(_views.reshape(last > 0, shape), picked, t)


def install(T) -> None:
    T.__setitem__ = setitem
    for name in ("copy_", "fill_", "zero_", "clamp_", "masked_fill_", "addcmul_", "addcdiv_",
                 "lerp_"):
        setattr(T, name, globals()[name])
    T.clamp_min_ = lambda self, min: clamp_(self, min=min)
    T.clamp_max_ = lambda self, max: clamp_(self, max=max)
    T.clip_ = clamp_
    for name, fn in (("add_", _ops.add), ("sub_", _ops.sub), ("mul_", _ops.mul),
                     ("div_", _ops.div), ("pow_", _ops.pow)):
        setattr(T, name, _binary_inplace(name, fn))
    for name in ("relu", "sigmoid", "tanh", "exp", "log", "sqrt", "rsqrt", "square", "abs",
                 "neg", "sign"):
        setattr(T, name + "_", _unary_inplace(name + "_", getattr(_ops, name)))
    T.__iadd__, T.__isub__, T.__imul__, T.__itruediv__ = T.add_, T.sub_, T.mul_, T.div_


install(Tensor)
