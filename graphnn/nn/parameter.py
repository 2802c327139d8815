"""``Parameter``: a Tensor that registers itself when assigned to a Module attribute."""
from __future__ import annotations

import numpy as np

from graphnn._tensor import Tensor
from graphnn.ir.types import float32


class Parameter(Tensor):
    """A learnable tensor, ``requires_grad=True`` by default (``torch.nn.Parameter``).

    ``Parameter(data=None, requires_grad=True)``: ``data`` is a Tensor (its storage is
    shared, as ``data.detach()`` would) or None for an empty float32 tensor."""

    _is_param = True

    def __new__(cls, data=None, requires_grad: bool = True):
        self = object.__new__(cls)
        if data is None:
            data = _empty(float32)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter data must be a Tensor, got {type(data).__name__}")
        self._set_state(data._type, data._storage, None, requires_grad, data._offset,
                        data._strides, data._version_counter)
        return self

    def __init__(self, data=None, requires_grad: bool = True):
        pass

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, proto):
        return (Parameter, (Tensor(self.detach()._host()), self.requires_grad))


def _empty(dtype) -> Tensor:
    return Tensor(np.zeros(0, _dtype(dtype).np), dtype=_dtype(dtype))


def _dtype(dtype):
    if dtype is None:
        return float32
    from graphnn.ir.types import by_name
    return by_name(dtype) if isinstance(dtype, str) else dtype


class UninitializedParameter(Parameter):
    """A parameter whose shape is not known yet (lazy modules); ``materialize(shape)``."""

    cls_to_become = Parameter

    def __new__(cls, requires_grad: bool = True, device=None, dtype=None):
        self = Parameter.__new__(cls, None, requires_grad)
        self._uninit_dtype = _dtype(dtype)
        return self

    def __init__(self, requires_grad: bool = True, device=None, dtype=None):
        pass

    @property
    def shape(self):
        raise RuntimeError("Can't access the shape of an uninitialized parameter or buffer. "
                           "This error usually happens in `load_state_dict` when trying to "
                           "load an uninitialized parameter into an initialized one. Call "
                           "`forward` to initialize the parameters before accessing their "
                           "attributes.")

    def size(self, dim=None):
        return self.shape

    def numel(self):
        return self.shape

    def materialize(self, shape, device=None, dtype=None) -> None:
        """Allocates zeros of ``shape`` (the owning module initializes them) and turns this
        object into a ``cls_to_become`` (Parameter, or Tensor for a buffer)."""
        dtype = _dtype(dtype) if dtype is not None else self._uninit_dtype
        shape = tuple(shape) if not isinstance(shape, int) else (shape,)
        from graphnn._creation import full
        self.data = full(shape, 0, dtype=dtype)     # checks the sizes and the device's room
        self.__class__ = self.cls_to_become

    def __repr__(self) -> str:
        return "<UninitializedParameter>"


class UninitializedBuffer(Tensor):
    """A buffer whose shape is not known yet (lazy modules); ``materialize(shape)``."""

    cls_to_become = Tensor

    def __init__(self, requires_grad: bool = False, device=None, dtype=None):
        empty = _empty(dtype or float32)
        self._set_state(empty._type, empty._storage, None, requires_grad)
        self._uninit_dtype = _dtype(dtype)

    shape = UninitializedParameter.shape
    size = UninitializedParameter.size
    numel = UninitializedParameter.numel
    materialize = UninitializedParameter.materialize

    def __repr__(self) -> str:
        return "<UninitializedBuffer>"


class _BufferMeta(type):
    # a Buffer(...) call returns a plain Tensor marked as a buffer; isinstance sees the mark
    def __instancecheck__(cls, instance) -> bool:
        if cls is Buffer:
            return isinstance(instance, Tensor) and getattr(instance, "_is_buffer", False)
        return super().__instancecheck__(instance)


class Buffer(Tensor, metaclass=_BufferMeta):
    """A tensor that registers itself as a buffer when assigned to a Module attribute
    (``torch.nn.Buffer(data=None, *, persistent=True)``); returns a plain Tensor sharing
    ``data``'s storage, marked with ``persistent``."""

    def __new__(cls, data=None, *, persistent: bool = True):
        if data is None:
            from graphnn._creation import empty
            data = empty(0)
        t = data.detach()
        t.requires_grad = data.requires_grad
        t.persistent = persistent
        t._is_buffer = True
        return t


def is_lazy(t) -> bool:
    return isinstance(t, (UninitializedParameter, UninitializedBuffer))
