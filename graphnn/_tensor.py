"""``graphnn.Tensor``: the data model at the bottom of the front end.

A real tensor is a view of a ``Storage`` (``graphnn/_storage.py``): ``(storage, offset,
strides, shape, dtype)``, plus autograd fields and a version counter shared with its views.
While tracing, a tensor holds a ``Sym`` (graph + node id) instead of a storage.

This module knows data, layout and host conversion only. Operations are attached to the
class by the layers above it: ``graphnn._ops`` and ``graphnn._views`` (arithmetic,
reductions, views, indexing), ``graphnn._inplace`` (in-place ops), ``graphnn.autograd``
(``backward``)."""
from __future__ import annotations

import math

import numpy as np

from graphnn._errors import GraphBreak, user_line
from graphnn._format import format_tensor
from graphnn._storage import Storage, VersionCounter
from graphnn.ir.types import FLOAT_MAX, DType, TensorType, contiguous_strides, float32, \
    from_numpy
from graphnn.ir.views import view_layout
from graphnn.runtime import get_runtime

# PyTorch's names for dtypes in its messages: scalar types ("result type Float") and legacy
# tensor types ("[torch.FloatTensor [3]]", torch.typename)
SCALAR_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half",
                "bfloat16": "BFloat16", "int64": "Long", "int32": "Int", "bool": "Bool"}
TYPE_NAMES = {name: f"{scalar}Tensor" for name, scalar in SCALAR_NAMES.items()}
# C++ spellings in other messages ("expected m1 and m2 to have the same dtype, but got:
# float != c10::Half")
C10_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half",
             "bfloat16": "c10::BFloat16", "int64": "long int", "int32": "int", "bool": "bool"}
C_NAMES = C10_NAMES


def check_scalar_fits(value, dtype: DType) -> None:
    """PyTorch's error for a finite Python number that a float type cannot hold
    (``full((2,), 7e4, dtype=half)``; an array converted to float16 overflows to inf)."""
    top = FLOAT_MAX.get(dtype.name)
    if top is not None and isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value) and abs(value) > top:
        raise RuntimeError(f"value cannot be converted to type {C10_NAMES[dtype.name]} "
                           "without overflow")


class Tensor:
    """A multi-dimensional array on an OpenCL device (PyTorch's ``torch.Tensor``)."""

    __hash__ = object.__hash__
    _is_param = False   # Parameter sets it; traces name captured parameters "param"

    def __init__(self, *data, dtype: DType | None = None, requires_grad: bool = False):
        # torch.Tensor(2, 3) allocates; torch.Tensor([1, 2]) copies data
        if len(data) == 1 and not isinstance(data[0], (int, np.integer)):
            arr = np.asarray(data[0], dtype=(dtype or float32).np)
        else:
            arr = np.zeros(tuple(int(d) for d in data), (dtype or float32).np)
        self._init_from(arr, requires_grad, dtype)

    def _init_from(self, arr: np.ndarray, requires_grad: bool = False,
                   dtype: DType | None = None) -> None:
        t = TensorType(tuple(arr.shape), dtype or from_numpy(arr.dtype))
        self._set_state(t, _new_storage(get_runtime().upload(arr, dtype=t.dtype), t), None,
                        requires_grad)

    def _set_state(self, t: TensorType, storage: Storage | None, sym, requires_grad: bool,
                   offset: int = 0, strides: tuple[int, ...] | None = None,
                   version: VersionCounter | None = None) -> None:
        self._type = t
        self._storage = storage   # None while tracing
        self._offset = offset     # in elements
        self._strides = contiguous_strides(t.shape) if strides is None else strides
        self._version_counter = VersionCounter() if version is None else version
        self._sym = sym           # the traced value, or None for a real tensor
        self._base = None         # the tensor this one is a view of (never itself a view)
        self._view_chain = ()     # the view ops, with attrs, from _base to this tensor
        self._base_seen = None    # _base's version (real) or node (traced) this view follows
        self._requires_grad = requires_grad
        self._grad_fn = None
        self._out_index = 0       # which output of grad_fn's graph this tensor is
        self.grad = None

    @classmethod
    def _wrap(cls, buf, t: TensorType, requires_grad: bool = False) -> "Tensor":
        """A tensor owning the dense buffer ``buf`` (a fresh storage)."""
        self = object.__new__(cls)
        self._set_state(t, _new_storage(buf, t), None, requires_grad)
        return self

    @classmethod
    def _symbolic(cls, sym, requires_grad: bool) -> "Tensor":
        self = object.__new__(Tensor)
        self._set_state(sym.type, None, sym, requires_grad)
        return self

    @classmethod
    def _full(cls, t: TensorType, value) -> "Tensor":
        return cls._wrap(get_runtime().fill(t, value), t)

    # -- autograd fields --------------------------------------------------------------------
    # A view follows its base: after an in-place write anywhere in the storage (the version
    # moved), its history is rebuilt from the base's current one (PyTorch's view replay).
    @property
    def grad_fn(self):
        if self._base is not None and self._sym is None and \
                self._base_seen != self._version_counter.value:
            self._replay_history()
        return self._grad_fn

    @grad_fn.setter
    def grad_fn(self, node) -> None:
        self._grad_fn = node

    @property
    def requires_grad(self) -> bool:
        if self._base is not None and self._sym is None and \
                self._base_seen != self._version_counter.value:
            self._replay_history()
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self._requires_grad = bool(value)

    def _replay_history(self) -> None:
        self._base_seen = self._version_counter.value
        replay = _REPLAY[0]
        if replay is not None:
            replay(self)

    def _take_history(self, other: "Tensor") -> None:
        """This tensor's value now comes from ``other``'s graph (an in-place op's result)."""
        self._grad_fn, self._out_index = other.grad_fn, other._out_index
        self._requires_grad = other.requires_grad

    # -- metadata ---------------------------------------------------------------------------
    @property
    def shape(self):
        from graphnn._size import Size
        return Size(self._type.shape)

    def size(self, dim: int | None = None):
        if dim is None:
            return self.shape
        return self._type.shape[_norm_dim(dim, self.dim())]

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

    def __len__(self) -> int:
        if not self._type.shape:
            raise TypeError("len() of a 0-d tensor")
        return self._type.shape[0]

    def type_name(self) -> str:
        """PyTorch's legacy type name, e.g. ``torch.FloatTensor``."""
        return "torch." + TYPE_NAMES.get(self.dtype.name, self.dtype.name)

    # -- layout -----------------------------------------------------------------------------
    def stride(self, dim: int | None = None):
        if dim is None:
            return tuple(self._strides)
        return self._strides[_norm_dim(dim, self.dim())]

    def storage_offset(self) -> int:
        return self._offset

    def is_contiguous(self, memory_format=None) -> bool:
        dims = [(s, st) for s, st in zip(self._type.shape, self._strides) if s != 1]
        want = contiguous_strides(tuple(s for s, _ in dims))
        return all(st == w for (_, st), w in zip(dims, want))

    def data_ptr(self) -> int:
        """An address-like integer: equal for tensors that start at the same element of
        the same storage (OpenCL buffers have no host address)."""
        if self._storage is None:
            return 0
        return id(self._storage) * 64 + self._offset * self.element_size()

    def _is_view(self) -> bool:
        return self._base is not None

    @property
    def _version(self) -> int:
        return self._version_counter.value

    def _covers_storage(self) -> bool:
        """Dense from offset 0 over the whole storage: a write may replace the buffer."""
        return (self._offset == 0 and self.is_contiguous() and
                self.numel() * self.element_size() == self._storage.nbytes)

    def _view_data(self, op: str, attrs: dict, t: TensorType) -> "Tensor | None":
        """The view ``op(self)`` sharing this tensor's storage and version counter, without
        autograd history; None for a reshape that strides cannot express."""
        layout = view_layout(op, attrs, self._type.shape, self._strides, self._offset,
                             t.shape)
        if layout is None:
            return None
        out = object.__new__(Tensor)
        out._set_state(t, self._storage, None, False, layout[0], layout[1],
                       self._version_counter)
        out._base = self._base if self._base is not None else self
        out._view_chain = self._view_chain + ((op, dict(attrs)),)
        out._base_seen = self._version_counter.value
        return out

    def _alias(self, version: VersionCounter | None = None) -> "Tensor":
        """A tensor with this one's storage and layout and no history (``detach()``,
        ``.data``)."""
        out = object.__new__(Tensor)
        out._set_state(self._type, self._storage, None, False, self._offset, self._strides,
                       self._version_counter if version is None else version)
        return out

    # -- reading and writing device memory --------------------------------------------------
    def _dense(self):
        """``(buffer, private)``: a dense buffer with this tensor's values from element 0,
        and whether it is a private copy (made here for a strided or offset view) rather
        than the storage's own buffer."""
        if self._sym is not None:
            self._need_value(f"{user_line()} needs the value of a traced tensor")
        st = self._storage
        if self._offset == 0 and self.is_contiguous():
            return st.buf, False
        rt = get_runtime()
        buf = rt.alloc(self._type)
        size = self.element_size()
        if self.is_contiguous():
            rt.copy_into(buf, st.buf, self.numel() * size, src_offset=self._offset * size)
        else:
            rt.strided_copy(buf, (0, contiguous_strides(self._type.shape)), st.buf,
                            (self._offset, self._strides), self._type.shape, size)
        return buf, True

    def _write(self, buf, private: bool) -> None:
        """Stores the dense values in ``buf`` (this tensor's shape and dtype) into this
        tensor's memory, so every tensor sharing the storage sees them, and counts the
        write. ``private``: nobody else holds ``buf``, so it may become the storage."""
        st = self._storage
        rt = get_runtime()
        size = self.element_size()
        nbytes = self.numel() * size
        if self._covers_storage():
            if buf is not st.buf:
                if private:
                    st.buf = buf
                else:
                    rt.copy_into(st.buf, buf, nbytes)
        elif nbytes:
            if buf is st.buf:   # a view written from its own storage: regions may overlap
                tmp = rt.alloc(self._type)
                rt.copy_into(tmp, buf, nbytes)
                buf = tmp
            if self.is_contiguous():
                rt.copy_into(st.buf, buf, nbytes, dst_offset=self._offset * size)
            else:
                rt.strided_copy(st.buf, (self._offset, self._strides), buf,
                                (0, contiguous_strides(self._type.shape)),
                                self._type.shape, size)
        st.wrote()
        self._version_counter.bump()

    def _write_host(self, arr: np.ndarray) -> None:
        """Stores host values ``arr`` (broadcast to this tensor's shape) into its memory."""
        arr = np.ascontiguousarray(np.broadcast_to(np.asarray(arr, self.dtype.np),
                                                   self._type.shape))
        self._write(get_runtime().upload(arr, dtype=self.dtype), True)

    def _need_value(self, why: str) -> None:
        """A traced tensor's value is needed: a segmented trace runs the graph so far and
        this tensor becomes real (``graphnn._compile.call_segmented``); a plain trace
        cannot, and breaks."""
        materialize = _MATERIALIZE[0]
        if materialize is None or not materialize(self):
            raise GraphBreak(why)

    def _become(self, other: "Tensor") -> None:
        """This (traced) tensor object now is ``other``: its storage, layout and history."""
        self._type, self._storage = other._type, other._storage
        self._offset, self._strides = other._offset, other._strides
        self._version_counter = other._version_counter
        self._sym, self._base, self._view_chain, self._base_seen = None, None, (), None
        self._take_history(other)

    def _host(self) -> np.ndarray:
        if self._sym is not None:
            self._need_value(f"{user_line()} needs the value of a traced tensor "
                             "(.item(), bool(), .numpy() or .tolist())")
        st = self._storage
        cached = st.host_copy()
        if cached is not None and self._offset == 0 and self.is_contiguous():
            return cached.reshape(-1)[:self.numel()].reshape(self._type.shape).copy()
        buf, _ = self._dense()
        return get_runtime().download(buf, self._type)

    def __deepcopy__(self, memo) -> "Tensor":
        """A new leaf with a copy of the values, the same class (Parameter), requires_grad
        and (not for a Parameter) a deep copy of ``grad`` (PyTorch: only leaves can be
        deep-copied)."""
        if id(self) in memo:
            return memo[id(self)]
        if self._sym is not None or not self.is_leaf:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) "
                               "support the deepcopy protocol at the moment.  If you were "
                               "attempting to deepcopy a module, this may be because of a "
                               "torch.nn.utils.weight_norm usage, see "
                               "https://github.com/pytorch/pytorch/pull/103001")
        import copy
        rt = get_runtime()
        buf, private = self._dense()
        if not private:
            src, buf = buf, rt.alloc(self._type)
            rt.copy_into(buf, src, self.numel() * self.element_size())
        new = object.__new__(type(self))
        memo[id(self)] = new
        new._set_state(self._type, _new_storage(buf, self._type), None, self._requires_grad)
        own = {"_type", "_storage", "_offset", "_strides", "_version_counter", "_sym", "_base",
               "_view_chain", "_base_seen", "_requires_grad", "_grad_fn", "_out_index", "grad",
               # hooks belong to the original (a DDP reducer must not be deep-copied)
               "_post_accumulate_grad_hooks", "_grad_buffer_hooks"}
        for k, v in self.__dict__.items():
            if k not in own:
                new.__dict__[k] = copy.deepcopy(v, memo)
        if not self._is_param:      # PyTorch's Parameter.__deepcopy__ leaves grad behind
            new.grad = copy.deepcopy(self.grad, memo)
        return new

    # -- host conversion --------------------------------------------------------------------
    def numpy(self, *, force: bool = False) -> np.ndarray:
        if self.requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        self._numpy_dtype()
        return self._host()

    def _numpy_dtype(self) -> None:
        """numpy has no bfloat16: PyTorch's TypeError (``.float().numpy()`` is the way)."""
        if self.dtype.name == "bfloat16":
            raise TypeError("Got unsupported ScalarType BFloat16")

    def __array__(self, dtype=None, copy=None):
        self._numpy_dtype()
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
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
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

    # -- autograd flags ---------------------------------------------------------------------
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

    def detach_(self) -> "Tensor":
        self._grad_fn = None
        self._requires_grad = False
        self._base, self._view_chain = None, ()
        return self

    def retain_grad(self) -> None:   # gradients of non-leaves are not kept; accepted no-op
        pass

    @property
    def data(self) -> "Tensor":
        """The same storage without history and with a version counter of its own, so
        in-place writes through it are hidden from autograd (PyTorch's ``.data``)."""
        if self._sym is not None:
            return self.detach()
        return self._alias(VersionCounter())

    @data.setter
    def data(self, other: "Tensor") -> None:
        # PyTorch's set_data: this tensor now views other's storage, shape and dtype
        self._type, self._storage = other._type, other._storage
        self._offset, self._strides = other._offset, other._strides


# graphnn._views installs the function that rebuilds a view's history from its base;
# graphnn._trace the one that runs a segmented trace so far when a value is needed
_REPLAY: list = [None]
_MATERIALIZE: list = [None]


def _new_storage(buf, t: TensorType) -> Storage:
    return Storage(buf, t.numel * t.dtype.itemsize)


def _norm_dim(dim: int, ndim: int) -> int:
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {dim})")
    return dim % n
