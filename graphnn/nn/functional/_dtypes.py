"""The dtype checks of the functional layer, with PyTorch's types and wording.

PyTorch's kernels are compiled per dtype, so a dtype a kernel lacks is an error where
graphnn's generated code would simply run: ``"max_pool2d" not implemented for 'Bool'``
(NotImplementedError), and products and convolutions refuse operands of two dtypes
instead of promoting them. graphnn raises the same errors, before anything is traced,
so that code that fails on PyTorch fails here too."""
from __future__ import annotations

from graphnn._tensor import C_NAMES, SCALAR_NAMES


def scalar(t) -> str:
    return SCALAR_NAMES.get(t.dtype.name, t.dtype.name)


def cname(t) -> str:
    return C_NAMES.get(t.dtype.name, t.dtype.name)


def kernel_float(kernel: str, t, ints: bool = False, bools: bool = False) -> None:
    """NotImplementedError unless ``t`` is a float tensor (or an integer one when ``ints``,
    a bool one when ``bools``): ATen's dispatch error for a kernel without that dtype."""
    name = t.dtype.name
    if t.dtype.is_float or (ints and name in ("int64", "int32")) or (bools and name == "bool"):
        return
    raise NotImplementedError(f"\"{kernel}\" not implemented for '{scalar(t)}'")


def no_bool(t, message: str) -> None:
    if t.dtype.name == "bool":
        raise RuntimeError(message)


def same(message, *tensors) -> None:
    """RuntimeError ``message(first, other)`` unless the tensors (None skipped) share a
    dtype."""
    ts = [t for t in tensors if t is not None]
    for t in ts[1:]:
        if t.dtype != ts[0].dtype:
            raise RuntimeError(message(ts[0], t))


def float_result(t) -> None:
    """An op whose float result would be written back into ``t``'s dtype (dropout's
    in-place scaling): PyTorch's cast error for integer and bool inputs."""
    if not t.dtype.is_float:
        raise RuntimeError(f"result type Float can't be cast to the desired output type "
                           f"{scalar(t)}")


def mixed(*tensors) -> None:
    """The normalisation kernels' mixed-dtype error (input and parameters)."""
    ts = [t for t in tensors if t is not None]
    if ts[0].dtype.low_precision:
        # a 16-bit input takes parameters of its own dtype or all of float32 (PyTorch's
        # mixed-type CPU kernels)
        params = {t.dtype.name for t in ts[1:]}
        if params and params != {ts[0].dtype.name} and params != {"float32"}:
            raise RuntimeError("mixed dtype (CPU): expect parameter to have scalar type of "
                               "Float")
        return
    if any(t.dtype != ts[0].dtype for t in ts[1:]):
        raise RuntimeError("mixed dtype (CPU): all inputs must share same datatype.")
