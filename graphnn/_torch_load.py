"""Reading PyTorch checkpoints (``torch.save`` files) without running pickled code.

Two container formats: the zip archive ``torch.save`` writes since PyTorch 1.6
(``<name>/data.pkl`` plus one raw file per storage, ``<name>/data/<key>``) and the legacy
stream (magic number, protocol version, system info, the pickle, the storage keys, then
each storage as an 8-byte element count and its bytes).

The pickle is read by ``RestrictedUnpickler``, the equivalent of ``torch.load(...,
weights_only=True)``: ``GLOBAL``/``STACK_GLOBAL`` resolve only names in ``_ALLOWED``, each
to a stand-in defined here (no import ever happens), ``REDUCE``/``NEWOBJ`` call only those
stand-ins, ``BUILD`` sets attributes only on an ``OrderedDict`` (a state_dict's
``_metadata``), ``APPEND``/``SETITEM`` fill only lists, dicts and sets, and the opcodes that
could reach anything else (``INST``, ``OBJ``, ``NEWOBJ_EX``, extension codes, out-of-band
buffers) are refused. Anything refused raises ``pickle.UnpicklingError`` naming it.

Tensors are rebuilt after the pickle is read (the legacy format stores the data after it):
the pickle yields ``_Pending`` placeholders that ``_materialise`` replaces. Tensors that
shared a storage in PyTorch share one device storage here (offsets and strides kept), as
``torch.load`` returns them."""
from __future__ import annotations

import _compat_pickle
import pickle
import struct
import zipfile
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

import numpy as np

# torch storage class -> (numpy dtype of the file's bytes, graphnn dtype name it loads as)
_STORAGES = {
    "FloatStorage": ("<f4", "float32"), "DoubleStorage": ("<f8", "float64"),
    "HalfStorage": ("<f2", "float16"), "BFloat16Storage": ("<u2", "float32"),
    "LongStorage": ("<i8", "int64"), "IntStorage": ("<i4", "int32"),
    "ShortStorage": ("<i2", "int32"), "CharStorage": ("i1", "int32"),
    "ByteStorage": ("u1", "int32"), "BoolStorage": ("?", "bool"),
}
# torch dtypes by name; graphnn has the first six
_DTYPES = ("float32", "float64", "float16", "int64", "int32", "bool", "bfloat16", "int16",
           "int8", "uint8", "complex64", "complex128", "uint16", "uint32", "uint64",
           "float8_e4m3fn", "float8_e5m2")
_TORCH_DTYPE_ALIASES = {"float": "float32", "double": "float64", "half": "float16",
                        "long": "int64", "int": "int32", "short": "int16"}


@dataclass(frozen=True)
class _StorageType:
    name: str           # "FloatStorage"


@dataclass(frozen=True)
class ForeignDType:
    """A torch dtype graphnn has no tensors of (``torch.bfloat16`` met as a value)."""
    name: str

    def __repr__(self) -> str:
        return f"torch.{self.name}"


@dataclass(eq=False)
class _PendingStorage:
    key: str
    kind: str           # a _STORAGES key
    numel: int
    array: np.ndarray | None = None
    storage: object = None      # the graphnn Storage, made at the first tensor


@dataclass(eq=False)
class _Pending:
    """A tensor named by the pickle, made once the storages are read."""
    storage: _PendingStorage
    offset: int
    size: tuple
    stride: tuple
    requires_grad: bool = False
    parameter: bool = False
    attrs: dict = field(default_factory=dict)


class _TensorClass:
    """Stands in for ``torch.Tensor`` and ``torch.nn.Parameter`` as pickled classes."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


_TENSOR = _TensorClass("torch.Tensor")
_PARAMETER = _TensorClass("torch.nn.Parameter")


def _ints(value, what: str) -> tuple:
    if not isinstance(value, (tuple, list)) or \
            not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise pickle.UnpicklingError(f"tensor {what} must be a tuple of ints, got {value!r}")
    return tuple(value)


def _rebuild_tensor(storage, storage_offset, size, stride, requires_grad=False,
                    backward_hooks=None, metadata=None):
    if not isinstance(storage, _PendingStorage):
        raise pickle.UnpicklingError(f"a tensor needs a storage, got {type(storage).__name__}")
    size, stride = _ints(size, "size"), _ints(stride, "stride")
    if not isinstance(storage_offset, int) or len(size) != len(stride):
        raise pickle.UnpicklingError(f"bad tensor layout: offset {storage_offset!r}, size "
                                     f"{size}, stride {stride}")
    if storage_offset < 0 or any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise RuntimeError(f"graphnn.load: negative offset, size or stride in a tensor of "
                           f"size {list(size)}, stride {list(stride)}, offset {storage_offset}")
    if all(size):
        last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= storage.numel:
            raise RuntimeError(f"graphnn.load: a tensor of size {list(size)}, stride "
                               f"{list(stride)} at offset {storage_offset} reads element "
                               f"{last} of a storage of {storage.numel} elements")
    return _Pending(storage, storage_offset, size, stride, bool(requires_grad))


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                       dtype, metadata=None):
    return _rebuild_tensor(storage, storage_offset, size, stride, requires_grad)


def _rebuild_parameter(data, requires_grad, backward_hooks):
    if not isinstance(data, _Pending):
        raise pickle.UnpicklingError(f"a Parameter needs a tensor, got {type(data).__name__}")
    data.parameter, data.requires_grad = True, bool(requires_grad)
    return data


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    out = _rebuild_parameter(data, requires_grad, backward_hooks)
    _set_attrs(out, state)
    return out


def _rebuild_from_type_v2(func, new_type, args, state):
    if func not in _REBUILDERS or new_type not in (_TENSOR, _PARAMETER):
        raise pickle.UnpicklingError(f"_rebuild_from_type_v2 of {new_type!r} with {func!r}: "
                                     "graphnn.load rebuilds plain tensors and Parameters only")
    out = func(*args)
    if new_type is _PARAMETER:
        out.parameter = True
    _set_attrs(out, state)
    return out


def _set_attrs(out: _Pending, state) -> None:
    if not state:
        return
    if not isinstance(state, dict) or not all(isinstance(k, str) and not k.startswith("_")
                                              for k in state):
        raise pickle.UnpicklingError(f"tensor attributes must be a dict of public names, got "
                                     f"{state!r}")
    out.attrs.update(state)


def _encode(text, encoding="latin1"):
    # protocol 2 pickles bytes as _codecs.encode(str, "latin1")
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode is allowed for latin1 bytes only")
    return text.encode("latin1")


def _sparse(*args):
    raise pickle.UnpicklingError("graphnn.load: sparse, quantized and nested tensors are not "
                                 "supported")


def _size(*args):
    from graphnn._size import Size
    return Size(_ints(args[0] if args else (), "size"))


def _device(*args):
    from graphnn._device import device
    return device(*[a for a in args if isinstance(a, (str, int))])


def _dtype(name: str):
    from graphnn.ir.types import by_name
    try:
        return by_name(name)
    except KeyError:
        return ForeignDType(name)


_REBUILDERS = {_rebuild_tensor, _rebuild_tensor_v3}


def _allowed() -> dict:
    rc: dict = {
        "collections.OrderedDict": OrderedDict, "collections.Counter": Counter,
        "builtins.set": set, "builtins.frozenset": frozenset, "builtins.bytearray": bytearray,
        "builtins.complex": complex, "_codecs.encode": _encode,
        "torch.Size": _size, "torch.device": _device, "torch.Tensor": _TENSOR,
        "torch.nn.parameter.Parameter": _PARAMETER,
        "torch._utils._rebuild_tensor": _rebuild_tensor,
        "torch._utils._rebuild_tensor_v2": _rebuild_tensor,
        "torch._utils._rebuild_tensor_v3": _rebuild_tensor_v3,
        "torch._utils._rebuild_parameter": _rebuild_parameter,
        "torch._utils._rebuild_parameter_with_state": _rebuild_parameter_with_state,
        "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2,
    }
    for name in ("_rebuild_sparse_tensor", "_rebuild_qtensor", "_rebuild_nested_tensor",
                 "_rebuild_meta_tensor_no_storage", "_rebuild_wrapper_subclass",
                 "_rebuild_device_tensor_from_numpy", "_rebuild_device_tensor_from_cpu_tensor"):
        rc[f"torch._utils.{name}"] = _sparse
    rc["torch.serialization._get_layout"] = _sparse
    for kind in _STORAGES:
        rc[f"torch.{kind}"] = _StorageType(kind)
    for name in _DTYPES:
        rc[f"torch.{name}"] = _dtype(name)
    for alias, name in _TORCH_DTYPE_ALIASES.items():
        rc[f"torch.{alias}"] = _dtype(name)
    return rc


_ALLOWED = _allowed()
_CALLABLE = {id(v) for v in _ALLOWED.values() if callable(v) and not isinstance(v, type)} | {
    id(OrderedDict), id(Counter), id(set), id(frozenset), id(bytearray), id(complex)}


class _Dispatch(dict):
    def __missing__(self, code: int):
        raise pickle.UnpicklingError(f"graphnn.load: pickle opcode {bytes([code])!r} is not "
                                     "allowed (it could create or call arbitrary objects)")


_SAFE_OPCODES = (
    "MARK STOP POP POP_MARK DUP FLOAT INT BININT BININT1 LONG BININT2 NONE STRING BINSTRING "
    "SHORT_BINSTRING UNICODE BINUNICODE GLOBAL DICT EMPTY_DICT GET BINGET LONG_BINGET LIST "
    "EMPTY_LIST PUT BINPUT LONG_BINPUT TUPLE EMPTY_TUPLE BINFLOAT PROTO TUPLE1 TUPLE2 TUPLE3 "
    "NEWTRUE NEWFALSE LONG1 LONG4 BINBYTES SHORT_BINBYTES SHORT_BINUNICODE BINUNICODE8 "
    "BINBYTES8 EMPTY_SET FROZENSET STACK_GLOBAL MEMOIZE FRAME BYTEARRAY8").split()


class RestrictedUnpickler(pickle._Unpickler):
    """PyTorch's ``weights_only`` unpickler: see the module docstring. ``storages`` maps a
    persistent id's key to the storage it names (filled as the pickle names them)."""

    dispatch = _Dispatch({getattr(pickle, op)[0]: pickle._Unpickler.dispatch[
        getattr(pickle, op)[0]] for op in _SAFE_OPCODES})

    def __init__(self, file):
        super().__init__(file, encoding="utf-8")
        self.storages: dict[str, _PendingStorage] = {}

    def find_class(self, module: str, name: str):
        if self.proto < 3 and (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif self.proto < 3 and module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        full = f"{module}.{name}"
        if full in _ALLOWED:
            return _ALLOWED[full]
        raise pickle.UnpicklingError(
            f"Unsupported global: GLOBAL {full} was not an allowed global. graphnn.load reads "
            "tensors, dicts, OrderedDicts, lists, tuples, sets, numbers, strings, dtypes and "
            "devices only, and never imports or calls anything else (as torch.load with "
            "weights_only=True). Save a state_dict instead of a pickled object.")

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or len(pid) < 5 or \
                (pid[0].decode("ascii") if isinstance(pid[0], bytes) else pid[0]) != "storage":
            raise pickle.UnpicklingError(f"persistent id {pid!r}: only storages are allowed")
        kind, key, numel = pid[1], str(pid[2]), pid[4]
        if not isinstance(kind, _StorageType):
            raise pickle.UnpicklingError(f"persistent id {pid!r}: not a storage type")
        if not isinstance(numel, int) or numel < 0:
            raise pickle.UnpicklingError(f"storage {key}: bad element count {numel!r}")
        st = self.storages.get(key)
        if st is None:
            st = self.storages[key] = _PendingStorage(key, kind.name, numel)
        elif st.kind != kind.name or st.numel != numel:
            raise pickle.UnpicklingError(f"storage {key} is named as {st.kind}[{st.numel}] "
                                         f"and as {kind.name}[{numel}]")
        if len(pid) > 5 and pid[5] is not None:    # legacy view: (view key, offset, size)
            raise pickle.UnpicklingError("graphnn.load: legacy storage views (PyTorch < 1.0 "
                                         "files) are not supported")
        return st

    def _load_reduce(self):
        args = self.stack.pop()
        func = self.stack[-1]
        if id(func) not in _CALLABLE or not isinstance(args, tuple):
            raise pickle.UnpicklingError(f"graphnn.load: refusing to call {func!r}")
        self.stack[-1] = func(*args)

    def _load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        if cls is _PARAMETER and args:
            self.append(_rebuild_parameter(args[0], args[1] if len(args) > 1 else True, None))
        elif cls in (OrderedDict, Counter, set, frozenset, bytearray) and \
                isinstance(args, tuple):
            self.append(cls.__new__(cls, *args))
        else:
            raise pickle.UnpicklingError(f"graphnn.load: refusing to create {cls!r}")

    def _load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if type(inst) is OrderedDict and isinstance(state, dict) and \
                all(isinstance(k, str) for k in state):
            inst.__dict__.update(state)     # a state_dict's _metadata
        elif isinstance(inst, _Pending):
            _set_attrs(inst, state)
        else:
            raise pickle.UnpicklingError(f"graphnn.load: refusing to set the state of a "
                                         f"{type(inst).__name__}")

    def _load_append(self):
        item = self.stack.pop()
        if type(self.stack[-1]) is not list:
            raise pickle.UnpicklingError("graphnn.load: APPEND to a non-list")
        self.stack[-1].append(item)

    def _load_appends(self):
        items = self.pop_mark()
        if type(self.stack[-1]) is not list:
            raise pickle.UnpicklingError("graphnn.load: APPENDS to a non-list")
        self.stack[-1].extend(items)

    def _target(self, op: str):
        target = self.stack[-1]
        if type(target) not in (dict, OrderedDict, Counter):
            raise pickle.UnpicklingError(f"graphnn.load: {op} on a {type(target).__name__}")
        return target

    def _load_setitem(self):
        value, key = self.stack.pop(), self.stack.pop()
        self._target("SETITEM")[key] = value

    def _load_setitems(self):
        items = self.pop_mark()
        target = self._target("SETITEMS")
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    def _load_additems(self):
        items = self.pop_mark()
        if type(self.stack[-1]) is not set:
            raise pickle.UnpicklingError("graphnn.load: ADDITEMS to a non-set")
        self.stack[-1].update(items)

    def _load_binpersid(self):
        pid = self.stack.pop()
        self.append(self.persistent_load(pid))


for _op, _fn in (("REDUCE", "_load_reduce"), ("NEWOBJ", "_load_newobj"),
                 ("BUILD", "_load_build"), ("APPEND", "_load_append"),
                 ("APPENDS", "_load_appends"), ("SETITEM", "_load_setitem"),
                 ("SETITEMS", "_load_setitems"), ("ADDITEMS", "_load_additems"),
                 ("BINPERSID", "_load_binpersid")):
    RestrictedUnpickler.dispatch[getattr(pickle, _op)[0]] = getattr(RestrictedUnpickler, _fn)


# -- containers ---------------------------------------------------------------------------
LEGACY_MAGIC = 0x1950a86a20f9469cfc6c


def is_legacy(head: bytes) -> bool:
    """Whether ``head`` (the first bytes of a file) starts a legacy ``torch.save`` stream:
    a protocol-2 pickle of the magic number."""
    return head[:4] == b"\x80\x02\x8a\x0a" and \
        int.from_bytes(head[4:14], "little") == LEGACY_MAGIC


def load_zip(f):
    """``(object, warning)`` from a ``torch.save`` zip archive (path or binary file)."""
    try:
        return _load_zip(f)
    except (zipfile.BadZipFile, EOFError) as e:
        raise RuntimeError(f"graphnn.load: damaged or truncated zip archive ({e})") from None


def _load_zip(f):
    with zipfile.ZipFile(f) as z:
        names = z.namelist()
        pkl = next((n for n in names if n.endswith("data.pkl") and n.count("/") == 1), None)
        if pkl is None:
            raise RuntimeError("graphnn.load: a zip file without data.pkl is not a PyTorch "
                               "checkpoint")
        prefix = pkl[:-len("data.pkl")]
        big = f"{prefix}byteorder" in names and z.read(f"{prefix}byteorder") == b"big"
        with z.open(pkl) as fh:
            up = RestrictedUnpickler(fh)
            obj = up.load()
        for st in up.storages.values():
            name = f"{prefix}data/{st.key}"
            if name not in names:
                raise RuntimeError(f"graphnn.load: storage {st.key} is missing from the file")
            st.array = _array(z.read(name), st, big)
    return _materialise(obj, up.storages)


def load_legacy(fh):
    """``(object, warning)`` from a legacy (PyTorch < 1.6 default) ``torch.save`` stream."""
    head = RestrictedUnpickler(fh)
    if head.load() != LEGACY_MAGIC:
        raise RuntimeError("graphnn.load: not a PyTorch file (bad magic number)")
    if RestrictedUnpickler(fh).load() != 1001:
        raise RuntimeError("graphnn.load: unsupported legacy PyTorch protocol version")
    info = RestrictedUnpickler(fh).load()
    big = isinstance(info, dict) and info.get("little_endian") is False
    up = RestrictedUnpickler(fh)
    obj = up.load()
    keys = RestrictedUnpickler(fh).load()
    if not isinstance(keys, list):
        raise pickle.UnpicklingError("graphnn.load: the storage key list is not a list")
    for key in keys:
        st = up.storages.get(str(key))
        if st is None:
            raise RuntimeError(f"graphnn.load: storage {key} is not named by the pickle")
        (count,) = struct.unpack(">q" if big else "<q", _exactly(fh, 8))
        if count != st.numel:
            raise RuntimeError(f"graphnn.load: storage {key} holds {count} elements, the "
                               f"pickle says {st.numel}")
        st.array = _array(_exactly(fh, count * np.dtype(_STORAGES[st.kind][0]).itemsize),
                          st, big)
    return _materialise(obj, up.storages)


def _exactly(fh, n: int) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise RuntimeError(f"graphnn.load: the file ends early (wanted {n} bytes, got "
                           f"{len(data)}): truncated checkpoint")
    return data


def _array(data: bytes, st: _PendingStorage, big: bool) -> np.ndarray:
    raw, _ = _STORAGES[st.kind]
    dt = np.dtype(raw).newbyteorder(">" if big else "<")
    if len(data) != st.numel * dt.itemsize:
        raise RuntimeError(f"graphnn.load: storage {st.key} has {len(data)} bytes, expected "
                           f"{st.numel} x {dt.itemsize}: truncated or damaged checkpoint")
    arr = np.frombuffer(data, dt).astype(dt.newbyteorder("="))
    if st.kind == "BFloat16Storage":    # the high half of a float32: widening is exact
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    return arr


def widened(obj_storages: dict) -> str:
    """A warning for storages loaded in a wider dtype, or ''."""
    kinds = sorted({st.kind for st in obj_storages.values()
                    if st.kind in ("BFloat16Storage", "ShortStorage", "CharStorage",
                                   "ByteStorage")})
    if not kinds:
        return ""
    return (f"graphnn.load: {', '.join(kinds)} tensors are loaded widened (bfloat16 as "
            "float32, 8/16-bit integers as int32); the values are exact")


def _materialise(obj, storages: dict):
    """``(obj with every _Pending replaced by a graphnn tensor, warning text)``."""
    from graphnn.ir.types import TensorType, by_name
    from graphnn.runtime import get_runtime
    from graphnn._storage import Storage
    from graphnn._tensor import Tensor
    from graphnn.nn.parameter import Parameter

    memo: dict[int, object] = {}

    def tensor(p: _Pending):
        st = p.storage
        dtype = by_name(_STORAGES[st.kind][1])
        if st.storage is None:
            host = st.array.astype(dtype.np, copy=False)
            st.storage = Storage(get_runtime().upload(host, private=True), host.nbytes)
            if not dtype.is_float and host.size <= 1 << 20:
                st.storage.remember_host(host.copy())   # index checks read it on the host
        t = TensorType(p.size, dtype)
        out = object.__new__(Parameter if p.parameter else Tensor)
        out._set_state(t, st.storage, None, False, p.offset, p.stride)
        if p.requires_grad and dtype.is_float:
            out.requires_grad_(True)
        for k, v in p.attrs.items():
            setattr(out, k, walk(v))
        return out

    def walk(o):
        key = id(o)
        if key in memo:
            return memo[key]
        if isinstance(o, _Pending):
            out = memo[key] = tensor(o)
        elif isinstance(o, (dict, OrderedDict, Counter)):
            out = memo[key] = type(o)()
            for k, v in o.items():
                out[walk(k)] = walk(v)
            if isinstance(o, OrderedDict) and "_metadata" in o.__dict__:
                out._metadata = o._metadata
        elif isinstance(o, list):
            out = memo[key] = []
            out.extend(walk(v) for v in o)
        elif isinstance(o, tuple) and not hasattr(o, "_fields"):
            out = memo[key] = type(o)(walk(v) for v in o) if type(o) is not tuple \
                else tuple(walk(v) for v in o)
        else:
            out = o
        return out

    return walk(obj), widened(storages)
