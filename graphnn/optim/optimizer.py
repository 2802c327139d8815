"""``Optimizer`` base: parameter groups, per-parameter state, ``zero_grad``, ``state_dict``.

The object model is PyTorch's ``torch.optim.Optimizer`` (2.13): ``param_groups`` is a list
of dicts holding ``params`` and every option; ``state`` maps a parameter to a dict of its
state; ``state_dict()`` replaces parameters by their index in group order and
``load_state_dict`` maps them back, so dicts move between graphnn and PyTorch."""
from __future__ import annotations

import functools
import warnings
from collections import OrderedDict, defaultdict
from copy import deepcopy
from itertools import chain
from typing import Any, Callable

import numpy as np

from graphnn._errors import _PLAIN as _PLAIN_ERRORS, add_context
from graphnn._tensor import Tensor
from graphnn.ir.types import TensorType, float32
from graphnn.nn.hooks import RemovableHandle
from graphnn.nn.module import typename
from graphnn.runtime import get_runtime


class _RequiredParameter:
    """Marks an option without default (``lr`` of a custom optimizer)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def host_scalar(value: float, dtype=float32) -> Tensor:
    """A 0-d device tensor of its own holding ``value``, whose host copy is kept: reading
    it (``.item()``, the optimizers' step counts) needs no device round trip."""
    arr = np.array(value, dtype.np)
    t = Tensor._wrap(get_runtime().upload(arr, private=True, dtype=dtype),
                     TensorType((), dtype))
    t._storage.remember_host(arr)
    return t


def set_host_scalar(t: Tensor, value: float) -> None:
    """Writes ``value`` into the 0-d tensor ``t`` in place (as PyTorch's ``step_t += 1``)
    and keeps the host copy."""
    arr = np.array(value, t.dtype.np)
    t._write(get_runtime().upload(arr, private=True, dtype=t.dtype), True)
    t._storage.remember_host(arr)


def host_value(t) -> float:
    """A 0-d tensor's value (from the kept host copy when there is one), or a number."""
    if isinstance(t, Tensor):
        return float(t._host())
    if hasattr(t, "item"):
        return float(t.item())
    return float(t)


def _to_graphnn(value, like: Tensor | None, key) -> Any:
    """A state value loaded from a state dict as graphnn holds it: tensors (graphnn, torch,
    numpy) become graphnn tensors of the parameter's dtype (``step`` keeps float32 and a
    host copy); other values are deep-copied containers of the same."""
    if isinstance(value, Tensor):
        if key == "step" or like is None or not like.dtype.is_float or \
                value.dtype == like.dtype:
            return value
        return value.to(like.dtype)
    if hasattr(value, "__array__") and not isinstance(value, (list, tuple, dict)) and \
            type(value).__module__.split(".")[0] in ("torch", "numpy"):
        if hasattr(value, "detach"):
            value = value.detach().cpu()
            if str(value.dtype) == "torch.bfloat16":    # numpy has none: exact in float32
                value = value.float()
            value = value.numpy()
        arr = np.asarray(value)
        if key == "step" or arr.ndim == 0 and key in ("mu_product",):
            return host_scalar(float(arr), float32)
        from graphnn._creation import tensor
        if like is not None and like.dtype.is_float:
            return tensor(arr, dtype=like.dtype)
        return tensor(arr)
    if isinstance(value, dict):
        return {k: _to_graphnn(v, like, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_graphnn(v, like, None) for v in value)
    return value


def _patch_step(cls) -> None:
    """Wraps ``cls.step`` once so that the step hooks run around any optimizer's step,
    user-defined ones included (PyTorch patches the class the same way)."""
    step = cls.step
    if getattr(step, "hooked", False):
        return

    def wrapper(*args, **kwargs):
        self = args[0]
        for hook in list(self._optimizer_step_pre_hooks.values()):
            result = hook(self, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(f"{step} must return None or a tuple of (new_args, "
                                       f"new_kwargs), but got {result}.")
                args, kwargs = result
        out = step(*args, **kwargs)
        for hook in list(self._optimizer_step_post_hooks.values()):
            hook(self, args, kwargs)
        return out

    functools.update_wrapper(wrapper, step)
    wrapper.hooked = True   # type: ignore[attr-defined]
    cls.step = wrapper


class Optimizer:
    """Base class of all optimizers (``torch.optim.Optimizer``).

    ``params``: an iterable of tensors, of ``(name, tensor)`` pairs, or of dicts (parameter
    groups with their own options); it is read once. ``defaults``: the options a group
    takes when it does not name them."""

    def __init_subclass__(cls, **kwargs):
        # errors of the constructor name the optimizer ("SGD: Invalid learning rate: -1")
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None or getattr(init, "_graphnn_public", False):
            return

        @functools.wraps(init)
        def public_init(self, *args, **kwargs):
            try:
                init(self, *args, **kwargs)
            except _PLAIN_ERRORS as e:
                add_context(e, type(self).__name__, ())     # the class the user named
                raise

        public_init._graphnn_public = True
        cls.__init__ = public_init

    def __init__(self, params, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self._optimizer_step_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict = OrderedDict()
        self._optimizer_state_dict_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_state_dict_post_hooks: OrderedDict = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_load_state_dict_post_hooks: OrderedDict = OrderedDict()
        _patch_step(type(self))
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got " + typename(params))
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        groups = list(params)       # a generator can be read once
        if len(groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    # -- pickling and repr ------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state,
                "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        _patch_step(type(self))
        self.defaults.setdefault("differentiable", False)
        for name in ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks",
                     "_optimizer_state_dict_pre_hooks", "_optimizer_state_dict_post_hooks",
                     "_optimizer_load_state_dict_pre_hooks",
                     "_optimizer_load_state_dict_post_hooks"):
            if name not in self.__dict__:
                setattr(self, name, OrderedDict())

    def __repr__(self) -> str:
        s = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += "\n"
            s += f"Parameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    s += f"    {key}: {group[key]}\n"
        return s + ")"

    # -- groups -----------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Adds a group of parameters with its own options (fine-tuning a frozen layer)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs. "
                            "Please use a list instead.")
        else:
            param_group["params"] = list(params)
        tensors, names = [], []
        for p in param_group["params"]:
            if isinstance(p, tuple):
                names.append(p[0])
                tensors.append(p[1])
            else:
                tensors.append(p)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError("all optimizer params should be with/without names. Some "
                                 "param names are missing")
            param_group["param_names"] = names
        for p in tensors:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                + typename(p))
            if not self.defaults.get("differentiable", None) and not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError("parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            param_group.setdefault(name, default)
        if len({id(p) for p in tensors}) != len(tensors):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in "
                          "future, this will cause an error; see "
                          "github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=3)
        seen: set[int] = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {which} to the optimizer")
        if any(id(p) in seen for p in tensors):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Sets every gradient to None (default), or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.grad_fn is not None:
                        p.grad.detach_()
                    else:
                        p.grad.requires_grad_(False)
                    p.grad.zero_()

    def step(self, closure: Callable | None = None):
        raise NotImplementedError

    # -- hooks ------------------------------------------------------------------------------
    def _hook(self, table: OrderedDict, hook, prepend: bool = False) -> RemovableHandle:
        handle = RemovableHandle(table)
        table[handle.id] = hook
        if prepend:
            table.move_to_end(handle.id, last=False)
        return handle

    def register_step_pre_hook(self, hook) -> RemovableHandle:
        """``hook(optimizer, args, kwargs)`` runs before ``step``; it may return new
        ``(args, kwargs)``."""
        return self._hook(self._optimizer_step_pre_hooks, hook)

    def register_step_post_hook(self, hook) -> RemovableHandle:
        return self._hook(self._optimizer_step_post_hooks, hook)

    def register_state_dict_pre_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        return self._hook(self._optimizer_state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        return self._hook(self._optimizer_state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        return self._hook(self._optimizer_load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(self, hook,
                                           prepend: bool = False) -> RemovableHandle:
        return self._hook(self._optimizer_load_state_dict_post_hooks, hook, prepend)

    # -- state dicts ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [index, ...]}]}``
        with parameters numbered in group order (PyTorch's format). State tensors are the
        live ones, not copies, as in PyTorch."""
        for hook in self._optimizer_state_dict_pre_hooks.values():
            hook(self)
        index: dict[int, int] = {}
        start = 0
        groups = []
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            index.update({id(p): i for i, p in enumerate(g["params"], start)
                          if id(p) not in index})
            packed["params"] = [index[id(p)] for p in g["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {(index[id(k)] if isinstance(k, Tensor) else k): v
                 for k, v in self.state.items()}
        sd = {"state": state, "param_groups": groups}
        for hook in self._optimizer_state_dict_post_hooks.values():
            result = hook(self, sd)
            if result is not None:
                sd = result
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Loads a dict from ``state_dict()`` (graphnn's or PyTorch's: torch tensors become
        graphnn tensors). Groups must match in number and sizes."""
        state_dict = state_dict.copy()
        for hook in self._optimizer_load_state_dict_pre_hooks.values():
            result = hook(self, state_dict)
            if result is not None:
                state_dict = result
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match "
                             "the size of optimizer's group")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))
        state: defaultdict = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = _to_graphnn(v, param, None)
            else:
                state[k] = v
        new_groups = []
        for g, ng in zip(groups, saved_groups):
            ng["params"] = g["params"]
            if "param_names" in g and "param_names" not in ng:
                ng["param_names"] = g["param_names"]
            new_groups.append(ng)
        self.__setstate__({"state": state, "param_groups": new_groups})
        for hook in self._optimizer_load_state_dict_post_hooks.values():
            hook(self)
