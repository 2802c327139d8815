"""``graphnn.Tensor``: a device buffer with a shape and dtype, or a symbolic value while
tracing. Arithmetic, reductions and views are in ``graphnn._ops``; this file holds the
object model, conversions, printing and the in-place ops."""
from __future__ import annotations

import numpy as np

from graphnn import _ops, autograd
from graphnn._dispatch import apply
from graphnn._format import format_tensor
from graphnn._trace import GraphBreak, _user_line
from graphnn.ir.types import DType, TensorType, float32, from_numpy
from graphnn.runtime import get_runtime


class Tensor:
    """A multi-dimensional array on an OpenCL device (PyTorch's ``torch.Tensor``)."""

    __hash__ = object.__hash__

    def __init__(self, *data, dtype: DType | None = None, requires_grad: bool = False):
        # torch.Tensor(2, 3) allocates; torch.Tensor([1, 2]) copies data
        if len(data) == 1 and not isinstance(data[0], (int, np.integer)):
            arr = np.asarray(data[0], dtype=(dtype or float32).np)
        else:
            arr = np.zeros(tuple(int(d) for d in data), (dtype or float32).np)
        self._init_from(arr, requires_grad)

    def _init_from(self, arr: np.ndarray, requires_grad: bool = False) -> None:
        self._set_state(TensorType(tuple(arr.shape), from_numpy(arr.dtype)),
                        get_runtime().upload(arr), None, requires_grad)

    def _set_state(self, t: TensorType, buf, sym, requires_grad: bool) -> None:
        self._type = t
        self._buf = buf         # a device buffer, or None while tracing
        self._sym = sym         # the traced value, or None for a real tensor
        self.requires_grad = requires_grad
        self.grad = None
        self.grad_fn = None
        self._out_index = 0     # which output of grad_fn's graph this tensor is

    @classmethod
    def _wrap(cls, buf, t: TensorType, requires_grad: bool = False) -> "Tensor":
        self = object.__new__(cls)
        self._set_state(t, buf, None, requires_grad)
        return self

    @classmethod
    def _symbolic(cls, sym, requires_grad: bool) -> "Tensor":
        self = object.__new__(Tensor)
        self._set_state(sym.type, None, sym, requires_grad)
        return self

    # -- metadata -------------------------------------------------------------------------
    @property
    def shape(self):
        from graphnn._size import Size
        return Size(self._type.shape)

    def size(self, dim: int | None = None):
        if dim is None:
            return self.shape
        return self._type.shape[_ops.norm_dim(dim, self.dim())]

    def dim(self) -> int:
        return len(self._type.shape)

    ndim = property(dim)

    def numel(self) -> int:
        return self._type.numel

    nelement = numel

    def element_size(self) -> int:
        return self._type.dtype.itemsize

    @property
    def dtype(self) -> DType:
        return self._type.dtype

    @property
    def device(self):
        from graphnn._device import device_of_runtime
        return device_of_runtime(get_runtime())

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def data(self) -> "Tensor":
        return self.detach()

    @data.setter
    def data(self, other: "Tensor") -> None:
        # PyTorch: the tensor now shares other's storage (and takes its shape and dtype)
        self._type, self._buf = other._type, other._buf

    def __len__(self) -> int:
        if not self._type.shape:
            raise TypeError("len() of a 0-d tensor")
        return self._type.shape[0]

    # -- host conversion ------------------------------------------------------------------
    def _host(self) -> np.ndarray:
        if self._sym is not None:
            raise GraphBreak(f"{_user_line()} needs the value of a traced tensor "
                             "(.item(), bool(), .numpy() or .tolist())")
        cached = self.__dict__.get("_hostcopy")
        if cached is not None and cached[0] is self._buf:
            return cached[1].copy()
        return get_runtime().download(self._buf, self._type)

    def numpy(self, *, force: bool = False) -> np.ndarray:
        if self.requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        return self._host()

    def __array__(self, dtype=None, copy=None):
        arr = self._host()
        return arr.astype(dtype) if dtype is not None else arr

    def item(self):
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted "
                               "to Scalar")
        return self._host().reshape(()).item()

    def tolist(self):
        return self._host().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.is_float or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an "
                            "index")
        return int(self.item())

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item())

    def __repr__(self) -> str:
        if self._sym is not None:
            return f"Tensor(symbolic %{self._sym.id}: {self._type})"
        return format_tensor(self)

    __str__ = __repr__

    def __iter__(self):
        if not self._type.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._type.shape[0]))

    def __format__(self, spec):
        if self.numel() == 1 and spec:
            return format(self.item(), spec)
        return repr(self) if not spec else format(repr(self), spec)

    # -- autograd -------------------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If "
                               "you want to use a computed variable in a subgraph that doesn't "
                               "require differentiation use var_no_grad = var.detach().")
        if requires_grad and not self.dtype.is_float:
            raise RuntimeError("Only Tensors of floating point and complex dtype can require "
                               "gradients")
        self.requires_grad = requires_grad
        return self

    def backward(self, gradient=None, retain_graph=None, create_graph=False) -> None:
        autograd.backward(self, gradient, retain_graph=bool(retain_graph))

    def detach(self) -> "Tensor":
        if self._sym is not None:
            return apply("detach", self)
        return Tensor._wrap(self._buf, self._type)

    def detach_(self) -> "Tensor":
        self.grad_fn = None
        self.requires_grad = False
        return self

    def retain_grad(self) -> None:   # gradients of non-leaves are not kept; accepted no-op
        pass

    # -- in-place updates (leaves, or anything under no_grad) ------------------------------
    def _check_inplace(self, name: str) -> None:
        if self._sym is not None:
            raise GraphBreak(f"{_user_line()}: in-place {name} inside a traced forward")
        if self.requires_grad and self.is_leaf and autograd.is_grad_enabled():
            raise RuntimeError("a leaf Variable that requires grad is being used in an "
                               "in-place operation.")

    def _set_value(self, other: "Tensor", fresh: bool = False) -> None:
        """Writes ``other`` (broadcast and converted) into this tensor. A ``fresh`` result,
        which nobody else holds, hands over its buffer instead of being copied."""
        if tuple(other.shape) != tuple(self.shape):
            other, fresh = other.expand(self.shape), False
        if other.dtype != self.dtype:
            other, fresh = other.to(self.dtype), True
        if other._buf is self._buf:
            return
        self._buf = other._buf if fresh else _copy_buf(other)

    def fill_(self, value) -> "Tensor":
        self._check_inplace("fill_")
        self._buf = get_runtime().fill(self._type, _scalar(value))
        return self

    def zero_(self) -> "Tensor":
        return self.fill_(0)

    def copy_(self, src) -> "Tensor":
        self._check_inplace("copy_")
        if not isinstance(src, Tensor):
            src = Tensor(np.asarray(src), dtype=self.dtype)
        with autograd.no_grad():
            self._set_value(src)
        return self

    def _update(self, name: str, fn, *others) -> "Tensor":
        """An in-place arithmetic update ``self = fn(self)``. Under autograd (self or an
        operand requires grad) this tensor takes over the result's history, as PyTorch
        rebases a tensor's grad_fn; otherwise the result's buffer replaces this one's."""
        self._check_inplace(name)
        if autograd.is_grad_enabled() and (self.requires_grad or any(
                isinstance(o, Tensor) and o.requires_grad for o in others)):
            before = Tensor._wrap(self._buf, self._type, self.requires_grad)
            before.grad_fn, before._out_index = self.grad_fn, self._out_index
            out = fn(before)
            if tuple(out.shape) != tuple(self.shape):
                raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the "
                                   f"broadcast shape {list(out.shape)}")
            if out.dtype != self.dtype:
                out = out.to(self.dtype)
            self._buf, self.grad_fn, self._out_index = out._buf, out.grad_fn, out._out_index
            self.requires_grad = out.requires_grad
            return self
        with autograd.no_grad():
            out = fn(self)
            if len(out.shape) > len(self.shape) or any(
                    o != s for o, s in zip(reversed(out.shape), reversed(self.shape))):
                raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the "
                                   f"broadcast shape {list(out.shape)}")
            self._set_value(out, fresh=True)
        return self

    def add_(self, other, alpha=1) -> "Tensor":
        return self._update("add_", lambda t: t + (other * alpha if alpha != 1 else other),
                            other)

    def sub_(self, other, alpha=1) -> "Tensor":
        return self._update("sub_", lambda t: t - (other * alpha if alpha != 1 else other),
                            other)

    def mul_(self, other) -> "Tensor":
        return self._update("mul_", lambda t: t * other, other)

    def div_(self, other) -> "Tensor":
        return self._update("div_", lambda t: t / other, other)

    def clamp_(self, min=None, max=None) -> "Tensor":
        return self._update("clamp_", lambda t: t.clamp(min, max), min, max)

    __iadd__ = add_
    __isub__ = sub_
    __imul__ = mul_
    __itruediv__ = div_

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> "Tensor":
        from graphnn._creation import host_rng
        return self._fill_host(host_rng().uniform(a, b, self.shape))

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> "Tensor":
        from graphnn._creation import host_rng
        return self._fill_host(host_rng().normal(mean, std, self.shape))

    def _fill_host(self, arr: np.ndarray) -> "Tensor":
        self._check_inplace("init")
        self._buf = get_runtime().upload(np.asarray(arr, self.dtype.np))
        return self


def _copy_buf(t: Tensor):
    rt = get_runtime()
    buf = rt.alloc(t._type)
    rt.copy_into(buf, t._buf, t.numel() * t.dtype.itemsize)
    return buf


def _scalar(v):
    return v.item() if isinstance(v, Tensor) else v


_ops.install(Tensor)
