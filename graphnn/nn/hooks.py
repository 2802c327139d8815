"""Module hooks (forward pre-hooks, forward hooks, backward hooks) and their handles.

A module with hooks anywhere in its tree runs eagerly so that hooks see real tensors on
every call; its hook-free submodules still run as compiled graphs."""
from __future__ import annotations

import itertools
from collections import OrderedDict

_ids = itertools.count()


class RemovableHandle:
    """Returned by ``register_*_hook``; ``remove()`` unregisters the hook."""

    def __init__(self, *dicts: dict):
        self.id = next(_ids)
        self.dicts = dicts

    def remove(self) -> None:
        for d in self.dicts:
            d.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _insert(d: OrderedDict, key: int, hook, prepend: bool) -> None:
    d[key] = hook
    if prepend:
        d.move_to_end(key, last=False)


class HookMixin:
    def _init_hooks(self) -> None:
        d = self.__dict__
        for name in ("_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_forward_hooks",
                     "_forward_hooks_with_kwargs", "_backward_pre_hooks", "_backward_hooks"):
            d[name] = OrderedDict()
        d["_forward_hooks_always_called"] = OrderedDict()
        d["_is_full_backward_hook"] = None

    def register_forward_pre_hook(self, hook, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        h = RemovableHandle(self._forward_pre_hooks, self._forward_pre_hooks_with_kwargs)
        _insert(self._forward_pre_hooks, h.id, hook, prepend)
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[h.id] = True
        return h

    def register_forward_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        h = RemovableHandle(self._forward_hooks, self._forward_hooks_with_kwargs,
                            self._forward_hooks_always_called)
        _insert(self._forward_hooks, h.id, hook, prepend)
        if with_kwargs:
            self._forward_hooks_with_kwargs[h.id] = True
        if always_call:
            self._forward_hooks_always_called[h.id] = True
        return h

    def register_full_backward_pre_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        h = RemovableHandle(self._backward_pre_hooks)
        _insert(self._backward_pre_hooks, h.id, hook, prepend)
        return h

    def register_full_backward_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        if self._is_full_backward_hook is False:
            raise RuntimeError("Cannot use both regular backward hooks and full backward hooks "
                               "on a single Module. Please use only one of them.")
        self.__dict__["_is_full_backward_hook"] = True
        h = RemovableHandle(self._backward_hooks)
        _insert(self._backward_hooks, h.id, hook, prepend)
        return h

    def register_backward_hook(self, hook) -> RemovableHandle:
        if self._is_full_backward_hook is True:
            raise RuntimeError("Cannot use both regular backward hooks and full backward hooks "
                               "on a single Module. Please use only one of them.")
        self.__dict__["_is_full_backward_hook"] = False
        h = RemovableHandle(self._backward_hooks)
        self._backward_hooks[h.id] = hook
        return h

    def _has_hooks(self) -> bool:
        return bool(self._forward_pre_hooks or self._forward_hooks or self._backward_hooks
                    or self._backward_pre_hooks)

    def _tree_has_hooks(self) -> bool:
        return any(m._has_hooks() for m in self.modules())

    def _call_with_hooks(self, args: tuple, kwargs: dict):
        for key, hook in list(self._forward_pre_hooks.items()):
            if key in self._forward_pre_hooks_with_kwargs:
                res = hook(self, args, kwargs)
                if res is not None:
                    if not (isinstance(res, tuple) and len(res) == 2):
                        raise RuntimeError("forward pre-hook must return None or a tuple of "
                                           f"(new_args, new_kwargs), but got {res}.")
                    args, kwargs = res
            else:
                res = hook(self, args)
                if res is not None:
                    args = res if isinstance(res, tuple) else (res,)
        bw = None
        if self._backward_hooks or self._backward_pre_hooks:
            from graphnn.nn import backward_hooks as bw
            args, bw_state = bw.setup_input_hook(self, args)
        out = self._call_forward(*args, **kwargs)
        for key, hook in list(self._forward_hooks.items()):
            if key in self._forward_hooks_with_kwargs:
                res = hook(self, args, kwargs, out)
            else:
                res = hook(self, args, out)
            if res is not None:
                out = res
        if bw is not None:
            out = bw.setup_output_hook(self, out, bw_state)
        return out
