"""Exceptions and source locations shared by every layer of the front end."""
from __future__ import annotations

import traceback


class GraphBreak(Exception):
    """Raised when traced code needs a concrete value (``.item()``, ``if tensor:``)."""


def user_frame() -> tuple[str, int] | None:
    """(path, line number) of the innermost stack frame outside graphnn, or None."""
    for frame in reversed(traceback.extract_stack(limit=12)):
        if "/graphnn/" not in frame.filename.replace("\\", "/"):
            return frame.filename, frame.lineno
    return None


def user_line() -> str:
    """The innermost stack frame outside graphnn, as ``file:line``."""
    frame = user_frame()
    return f"{frame[0].rsplit('/', 1)[-1]}:{frame[1]}" if frame else ""


# -- context in error messages ----------------------------------------------------------------
# Every error a public module, function or optimizer raises names where it comes from and
# the shapes of its tensor arguments. The checks raise PyTorch's type and wording; the
# public boundary adds what the wording lacks, in front: "Softmax (input: [3] float32):
# Dimension out of range (...)". Exceptions whose text is not a message are left alone.
_PLAIN = (RuntimeError, ValueError, TypeError, IndexError, NotImplementedError,
          AssertionError, ZeroDivisionError, MemoryError)


def shape_forms(shape) -> list[str]:
    """The ways a message may give ``shape``: [2, 3], (2, 3), 2x3, 2 x 3."""
    dims = [str(int(d)) for d in shape]
    forms = ["[" + ", ".join(dims) + "]",
             "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"]
    if len(dims) > 1:
        forms += ["x".join(dims), " x ".join(dims)]
    return forms


def _package_dirs() -> tuple[str, ...]:
    import os
    import graphnn
    from graphnn import codegen, ir, runtime
    return tuple(os.path.dirname(m.__file__) + os.sep for m in (graphnn, ir, codegen, runtime))


_DIRS: list = []


def raised_by_graphnn(e: BaseException) -> bool:
    """Whether the innermost frame of ``e``'s traceback that is graphnn's or the user's (not
    numpy's, pyopencl's or the standard library's) is graphnn's: the user's own exceptions
    raised in a ``forward`` pass through unchanged."""
    import os
    import sys
    if not _DIRS:
        _DIRS.append(_package_dirs())
    ours = _DIRS[0]
    libs = tuple({os.path.dirname(os.__file__)} | {p for p in sys.path if "site-packages" in p})
    frames = []
    tb = e.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    for filename in reversed(frames):
        if filename.startswith(ours):
            return True
        if not filename.startswith(libs) and not filename.startswith("<"):
            return False
    return False


def add_context(e: BaseException, where: str, tensors) -> None:
    """Names ``where`` (a module path, class or function name) and the shape and dtype of
    each ``(name, tensor)`` whose shape the message does not give, in front of ``e``'s
    message, which stays whole as its tail: "Softmax (input: [3] float32): Dimension out
    of range ...". The innermost public boundary adds the shapes, it knows the arguments
    best; outer ones (the module that called a function, the top-level module around a
    submodule) still add their names. Only for errors graphnn raised."""
    if not isinstance(e, _PLAIN) or isinstance(e, GraphBreak) or len(e.args) != 1 or \
            not isinstance(e.args[0], str) or not raised_by_graphnn(e):
        return
    msg = e.args[0]
    shapes = ""
    if not getattr(e, "_graphnn_context", False):
        missing = [f"{name}: {list(t.shape)} {t.dtype.name}" for name, t in tensors
                   if not any(f in msg for f in shape_forms(tuple(t.shape)))]
        shapes = f" ({', '.join(missing)})" if missing else ""
    # the message stays whole at the end: PyTorch's text remains a contiguous tail
    # (a check that already named ``where`` keeps its text whole too: PyTorch's own wording
    # may start with the name, "Softmax2d: expected input to be 3D or 4D")
    if shapes or (where and where.lower() not in msg.lower()):
        msg = f"{where}{shapes}: {msg}" if where else f"{shapes.strip()}: {msg}"
    e.args = (msg,)
    try:
        e._graphnn_context = True
    except AttributeError:      # a built-in exception without a __dict__
        pass


def warn(message: str, category=UserWarning) -> None:
    """``warnings.warn`` attributed to the innermost frame outside graphnn (the user's
    call), however many graphnn frames (public wrappers, traced modules) lie between."""
    import sys
    import warnings
    if not _DIRS:
        _DIRS.append(_package_dirs())
    frame, level = sys._getframe(1), 2     # stacklevel 1 would name this function
    while frame is not None and frame.f_code.co_filename.startswith(_DIRS[0]):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def tensor_arguments(fn, args: tuple, kwargs: dict) -> list:
    """``(parameter name, tensor)`` for the tensors among a call's arguments (also inside
    lists and tuples: ``torch.cat([a, b])`` gives ``tensors[0]``, ``tensors[1]``)."""
    import inspect

    def is_tensor(v) -> bool:     # (graphnn._tensor imports this module: no import back)
        return hasattr(v, "_type") and hasattr(v, "_sym")

    try:
        bound = inspect.signature(fn).bind_partial(*args, **kwargs).arguments
    except (TypeError, ValueError):
        bound = {f"arg{i}": a for i, a in enumerate(args)} | dict(kwargs)
    out = []
    for name, value in bound.items():
        if is_tensor(value):
            out.append((name, value))
        elif isinstance(value, (list, tuple)):
            out += [(f"{name}[{i}]", v) for i, v in enumerate(value) if is_tensor(v)]
        elif isinstance(value, dict):   # **kwargs
            out += [(k, v) for k, v in value.items() if is_tensor(v)]
    return out


# graphnn._trace installs the test "is a trace being recorded" (it is a layer above this one)
IN_TRACE: list = [lambda: False]


def with_context(fn, where: str | None = None):
    """``fn`` whose errors name ``where`` (default: its name) and its tensor arguments'
    shapes. Inside a trace the module being traced adds its own path instead."""
    import functools

    name = where or fn.__name__

    @functools.wraps(fn)
    def public(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except _PLAIN as e:
            if not IN_TRACE[0]():
                add_context(e, name, tensor_arguments(fn, args, kwargs))
            raise

    public._graphnn_public = True
    return public


def wrap_public(namespace: dict, package: str, skip=()) -> None:
    """Wraps every public function of ``namespace`` defined under ``package`` with
    ``with_context`` (once)."""
    import inspect

    for key, value in list(namespace.items()):
        if key.startswith("_") or key in skip or not inspect.isfunction(value) or \
                getattr(value, "_graphnn_public", False) or \
                not (value.__module__ or "").startswith(package):
            continue
        namespace[key] = with_context(value, key)
