"""``Module``: PyTorch's module object model, with calls that run as compiled graphs.

A call on a module from user code traces ``forward`` once per input signature (submodule
calls are inlined with their path as scope) and runs the compiled graph; hooks, graph
breaks and ``GRAPHNN_EAGER=1`` run ``forward`` op by op instead (each op still a kernel).
Registration, ``state_dict`` key order, ``repr`` and error messages follow
``torch/nn/modules/module.py``."""
from __future__ import annotations

import functools
import os
import warnings
from collections import OrderedDict, namedtuple
from typing import Any, Callable, Iterator

import numpy as np

from graphnn import _compile, _trace
from graphnn._errors import _PLAIN as _PLAIN_ERRORS, add_context, tensor_arguments
from graphnn._tensor import TYPE_NAMES, Tensor
from graphnn.nn.hooks import HookMixin
from graphnn.nn.parameter import Buffer, Parameter, is_lazy

_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def typename(obj) -> str:
    """``torch.typename``: ``graphnn.FloatTensor`` for tensors, else ``module.QualName``."""
    if isinstance(obj, Tensor):
        return "graphnn." + TYPE_NAMES.get(obj.dtype.name, "Tensor")
    module = getattr(obj, "__module__", "") or ""
    if hasattr(obj, "__qualname__"):
        qualname = obj.__qualname__
    elif hasattr(obj, "__name__"):
        qualname = obj.__name__
    else:
        module = obj.__class__.__module__ or ""
        qualname = obj.__class__.__qualname__
    if module in ("", "builtins"):
        return qualname
    return f"{module}.{qualname}"


def _addindent(s: str, n: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * n + line for line in lines[1:])


class Module(HookMixin):
    """Base class for all neural network modules (``torch.nn.Module``)."""

    training: bool
    _version = 1

    def __init_subclass__(cls, **kwargs):
        # errors of graphnn's own constructors name the class ("Linear: Trying to create
        # tensor with negative dimension -1: [3, -1]"); users' modules are left as written
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None or not cls.__module__.startswith("graphnn.") or \
                getattr(init, "_graphnn_public", False):
            return

        @functools.wraps(init)
        def public_init(self, *args, **kwargs):
            try:
                init(self, *args, **kwargs)
            except _PLAIN_ERRORS as e:
                add_context(e, type(self).__name__, ())
                raise

        public_init._graphnn_public = True
        cls.__init__ = public_init

    def __init__(self, *args, **kwargs) -> None:
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() takes 1 positional argument but "
                            f"{len(args) + 1} were given")
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = {}
        d["_buffers"] = {}
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = {}
        d["_compiled"] = {}
        d["_graph_break"] = None      # why forward could not be traced whole, or None
        d["_segments"] = {}           # compiled segments of a call split by graph breaks
        d["_segments_failed"] = False
        self._init_hooks()

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required '
                                  '"forward" function')

    # -- registration ---------------------------------------------------------------------
    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Adds ``param`` (a Parameter or None) under ``name``. Raises AttributeError before
        ``Module.__init__()``, TypeError for a non-string name or a non-Parameter value,
        KeyError for a name with ".", an empty name or an existing non-parameter attribute,
        ValueError for a non-leaf tensor (PyTorch's messages)."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"parameter name should be a string. Got {typename(name)}")
        if "." in name:
            raise KeyError('parameter name can\'t contain "."')
        if name == "":
            raise KeyError('parameter name can\'t be empty string ""')
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is None:
            self._parameters[name] = None
        elif not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{typename(param)}' object to parameter '{name}' "
                            "(graphnn.nn.Parameter or None required)")
        elif param.grad_fn is not None:
            raise ValueError(f"Cannot assign non-leaf Tensor to parameter '{name}'. Model "
                             f"parameters must be created explicitly. To express '{name}' "
                             "as a function of another Tensor, compute the value in "
                             "the forward() method.")
        else:
            self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Adds a buffer (state that is not a parameter, e.g. BatchNorm's ``running_mean``).
        Non-persistent buffers stay out of ``state_dict``. Errors as ``register_parameter``."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"buffer name should be a string. Got {typename(name)}")
        if "." in name:
            raise KeyError('buffer name can\'t contain "."')
        if name == "":
            raise KeyError('buffer name can\'t be empty string ""')
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{typename(tensor)}' object to buffer '{name}' "
                            "(graphnn Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: "Module | None") -> None:
        """Adds a child module, reachable as attribute ``name``. Raises TypeError for a
        non-Module or a non-string name, KeyError for an existing attribute, a name with
        "." or an empty name."""
        if not isinstance(module, Module) and module is not None:
            raise TypeError(f"{typename(module)} is not a Module subclass")
        if not isinstance(name, str):
            raise TypeError(f"module name should be a string. Got {typename(name)}")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        if "." in name:
            raise KeyError(f'module name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError('module name can\'t be empty string ""')
        self._modules[name] = module

    def register_module(self, name: str, module: "Module | None") -> None:
        """Alias of ``add_module``."""
        self.add_module(name, module)

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__

        def remove_from(*dicts_or_sets):
            for dd in dicts_or_sets:
                if name in dd:
                    if isinstance(dd, dict):
                        del dd[name]
                    else:
                        dd.discard(name)

        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            remove_from(d, self._buffers, self._modules, self._non_persistent_buffers_set)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{typename(value)}' as parameter '{name}' "
                                "(graphnn.nn.Parameter or None expected)")
            self.register_parameter(name, value)
        else:
            modules = d.get("_modules")
            if isinstance(value, Module):
                if modules is None:
                    raise AttributeError("cannot assign module before Module.__init__() call")
                remove_from(d, self._parameters, self._buffers,
                            self._non_persistent_buffers_set)
                modules[name] = value
            elif modules is not None and name in modules:
                if value is not None:
                    raise TypeError(f"cannot assign '{typename(value)}' as child module "
                                    f"'{name}' (graphnn.nn.Module or None expected)")
                modules[name] = value
            else:
                buffers = d.get("_buffers")
                if isinstance(value, Buffer) or (buffers is not None and name in buffers):
                    if value is not None and not isinstance(value, Tensor):
                        raise TypeError(f"cannot assign '{typename(value)}' as buffer '{name}' "
                                        "(graphnn.nn.Buffer, graphnn.Tensor or None expected)")
                    if isinstance(value, Buffer):
                        persistent = value.persistent
                    else:
                        persistent = name not in self._non_persistent_buffers_set
                    self.register_buffer(name, value, persistent)
                else:
                    object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if key in d and name in d[key]:
                return d[key][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        if name in d.get("_parameters", {}):
            del d["_parameters"][name]
        elif name in d.get("_buffers", {}):
            del d["_buffers"][name]
            d["_non_persistent_buffers_set"].discard(name)
        elif name in d.get("_modules", {}):
            del d["_modules"][name]
        else:
            object.__delattr__(self, name)

    def __dir__(self):
        keys = list(super().__dir__()) + list(self._parameters) + list(self._modules) + \
            list(self._buffers)
        return sorted(k for k in set(keys) if not k[0].isdigit())

    # -- lookup ------------------------------------------------------------------------------
    def get_submodule(self, target: str) -> "Module":
        if target == "":
            return self
        mod = self
        for item in target.split("."):
            if not hasattr(mod, item):
                raise AttributeError(f"{mod._get_name()} has no attribute `{item}`")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return mod

    def get_parameter(self, target: str) -> Parameter:
        path, _, name = target.rpartition(".")
        mod = self.get_submodule(path)
        if not hasattr(mod, name):
            raise AttributeError(f"{mod._get_name()} has no attribute `{name}`")
        p = getattr(mod, name)
        if not isinstance(p, Parameter):
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return p

    def get_buffer(self, target: str) -> Tensor:
        path, _, name = target.rpartition(".")
        mod = self.get_submodule(path)
        if not hasattr(mod, name):
            raise AttributeError(f"{mod._get_name()} has no attribute `{name}`")
        if name not in mod._buffers:
            raise AttributeError(f"`{name}` is not a buffer")
        return mod._buffers[name]

    # -- iteration ---------------------------------------------------------------------------
    def _named_members(self, get, prefix="", recurse=True, remove_duplicate=True):
        memo = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) \
            if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for k, v in get(module):
                if v is None or (remove_duplicate and id(v) in memo):
                    continue
                if remove_duplicate:
                    memo.add(id(v))
                yield (module_prefix + ("." if module_prefix else "") + k, v)

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        yield from self._named_members(lambda m: m._parameters.items(), prefix, recurse,
                                       remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_members(lambda m: m._buffers.items(), prefix, recurse,
                                       remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        memo = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in memo:
                memo.add(id(module))
                yield name, module

    def children(self) -> Iterator["Module"]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True):
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        if remove_duplicate:
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    # -- state -------------------------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.detach_()
                    p.grad.zero_()

    def apply(self, fn: Callable[["Module"], None]) -> "Module":
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        if args:   # PyTorch's deprecated positional form (destination, prefix, keep_vars)
            destination = args[0]
            prefix = args[1] if len(args) > 1 else prefix
            keep_vars = args[2] if len(args) > 2 else keep_vars
        if destination is None:
            destination = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination=destination, prefix=prefix + name + ".",
                             keep_vars=keep_vars)
        return destination

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copies parameters and buffers from ``state_dict`` (graphnn tensors, numpy arrays
        or anything with ``__array__``, such as torch tensors)."""
        from graphnn.nn.state import load_state_dict
        return load_state_dict(self, state_dict, strict, assign)

    # -- type and device -----------------------------------------------------------------
    def _apply_to_tensors(self, fn: Callable[[Tensor], Tensor]) -> "Module":
        from graphnn.autograd import no_grad
        with no_grad():
            for m in self.modules():
                for k, p in list(m._parameters.items()):
                    if p is None or is_lazy(p):
                        continue
                    new = fn(p)
                    if new is not p:
                        p.data = new        # PyTorch's Module._apply: param.data = fn(param)
                        if p.grad is not None:
                            p.grad.data = fn(p.grad)
                for k, b in list(m._buffers.items()):
                    if b is not None and not is_lazy(b):
                        b.data = fn(b)
                m._compiled.clear()
        return self

    def to(self, *args, **kwargs) -> "Module":
        from graphnn.nn.state import module_to
        return module_to(self, *args, **kwargs)

    def cpu(self) -> "Module":
        return self.to("cpu")

    def cuda(self, device=None) -> "Module":
        return self.to("cuda")

    def float(self) -> "Module":
        return self._cast_floats("float32")

    def double(self) -> "Module":
        return self._cast_floats("float64")

    def half(self) -> "Module":
        return self._cast_floats("float16")

    def bfloat16(self) -> "Module":
        return self._cast_floats("bfloat16")

    def type(self, dst_type) -> "Module":
        return self._cast_floats(dst_type, all_dtypes=True)

    def _cast_floats(self, dtype, all_dtypes: bool = False) -> "Module":
        from graphnn.nn.state import cast_module
        return cast_module(self, dtype, all_dtypes)

    # -- calling -----------------------------------------------------------------------------
    def _call_forward(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def _structure_key(self) -> tuple:
        """The trace key of a call: the module tree, its tensors' identities and types, and
        every plain attribute that ``forward`` may read (``p``, ``eps``, ``negative_slope``,
        ``momentum``, a user's ``self.scale``), so changing one retraces instead of silently
        keeping the value baked into the compiled graph."""
        key = []
        for name, m in self.named_modules():
            key.append((name, type(m).__name__, m.training, id(m), _attributes(m)))
            for pname, p in m._parameters.items():
                key.append((pname, id(p), p._type if p is not None else None))
            for bname, b in m._buffers.items():
                key.append((bname, id(b), b._type if b is not None else None))
        return tuple(key)

    def _needs_eager(self) -> bool:
        """Whether a call must run op by op: hooks (they see real tensors) or uninitialized
        lazy parameters."""
        for m in self.modules():
            if m._has_hooks():
                return True
            if any(is_lazy(t) for t in m._parameters.values()) or \
                    any(is_lazy(t) for t in m._buffers.values()):
                return True
        return False

    def _names(self):
        mods = {id(m): name for name, m in self.named_modules()}
        tensors = {id(p): name for name, p in self.named_parameters()}
        tensors.update({id(b): name for name, b in self.named_buffers()})
        return mods, tensors

    def __call__(self, *args, **kwargs):
        tracer = _trace.current()
        if tracer is not None:
            if self._has_hooks():
                raise _trace.GraphBreak(f"{self._get_name()} has hooks")
            tracer.scope.append(tracer.module_names.get(id(self), self._get_name()))
            try:
                return self._call_forward(*args, **kwargs)
            except _PLAIN_ERRORS as e:     # named by the innermost module's path
                add_context(e, tracer.scope_name or self._get_name(),
                            tensor_arguments(self.forward, args, kwargs))
                raise
            finally:
                tracer.scope.pop()
        try:
            return self._call_top(args, kwargs)
        except _PLAIN_ERRORS as e:
            # a submodule's path already starts the message ("1: mat1 and mat2 ..."): it
            # says where; the top-level class would only repeat it
            msg = e.args[0] if len(e.args) == 1 and isinstance(e.args[0], str) else ""
            nested = any(name and msg.startswith(f"{name}: ")
                         for name, _ in self.named_modules())
            add_context(e, "" if nested else self._get_name(),
                        tensor_arguments(self.forward, args, kwargs))
            raise

    def _call_top(self, args: tuple, kwargs: dict):
        """A call from outside any trace: compiled, in segments, or op by op."""
        if os.environ.get("GRAPHNN_EAGER") or self._needs_eager():
            return self._call_with_hooks(args, kwargs)
        if self._graph_break is not None:
            return self._call_split(args, kwargs)
        try:
            return _compile.call_traced(self._call_forward, self._structure_key(), list(args),
                                        type(self).__name__, kwargs, names=self._names,
                                        cache=self._compiled)
        except _trace.GraphBreak as e:
            self.__dict__["_graph_break"] = str(e)
            warnings.warn(f"graphnn: {self._get_name()}.forward cannot be traced whole ({e}); "
                          "it runs as compiled segments split where values are read",
                          stacklevel=3)
            return self._call_split(args, kwargs)

    def _call_split(self, args: tuple, kwargs: dict):
        """A call of a forward with graph breaks: compiled segments between the points where
        it reads values, or op by op when even that fails (state a graph cannot hold)."""
        if not self._segments_failed:
            try:
                return _compile.call_segmented(self._call_forward, list(args), kwargs,
                                               type(self).__name__, self._names(),
                                               self._segments)
            except _trace.GraphBreak as e:
                self.__dict__["_segments_failed"] = True
                warnings.warn(f"graphnn: {self._get_name()}.forward runs op by op ({e})",
                              stacklevel=4)
        return self._call_with_hooks(args, kwargs)

    # -- printing ----------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra_lines = []
        extra = self.extra_repr()
        if extra:
            extra_lines = extra.split("\n")
        child_lines = []
        for key, module in self._modules.items():
            mod_str = _addindent(repr(module), 2)
            child_lines.append("(" + key + "): " + mod_str)
        lines = extra_lines + child_lines
        main = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_compiled"] = {}     # compiled programs belong to this process and device
        state["_segments"] = {}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)


def _host(v) -> np.ndarray:
    return v.detach()._host() if isinstance(v, Tensor) else np.asarray(v)


def _attributes(m: Module) -> tuple:
    """A hashable summary of a module's own attributes (not its parameters, buffers,
    submodules, hooks or caches): values of plain types as they are, tensors by identity and
    type, other objects by identity."""
    return tuple((k, _attribute_value(v)) for k, v in m.__dict__.items()
                 if k not in _MODULE_INTERNALS)


def _attribute_value(v):
    if isinstance(v, (bool, int, float, str, type(None))):
        return v
    if isinstance(v, Tensor):
        return ("tensor", id(v), v._type)
    if isinstance(v, (tuple, list)):
        return (type(v).__name__,) + tuple(_attribute_value(x) for x in v)
    if isinstance(v, dict) and not isinstance(v, OrderedDict):
        return ("dict",) + tuple((k, _attribute_value(x)) for k, x in v.items())
    return ("object", id(v))


# the bookkeeping every Module instance has (registries, hooks, caches): not part of the key
_MODULE_INTERNALS = frozenset(Module().__dict__) - {"training"}

