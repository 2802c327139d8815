"""Collectives on graphnn tensors, staged through host memory.

OpenCL buffers cannot be handed to MPI, so each collective downloads its input on the
calling thread (which waits for the kernels that compute it), runs the MPI call on the
group's thread on a contiguous numpy copy, and writes the result back into the tensor's
memory when the caller waits (``async_op=False`` waits at once). Before the data moves,
the ranks exchange the call's signature (collective, reduction, shapes, dtypes), so a
mismatch raises the same RuntimeError on every rank instead of corrupting memory or
hanging in MPI."""
from __future__ import annotations

import numpy as np

from graphnn._tensor import Tensor
from graphnn.distributed._group import ReduceOp, RedOpType, Work, _mpi, default_group

_BITWISE = (RedOpType.BAND, RedOpType.BOR, RedOpType.BXOR)


def _check_tensor(fn: str, name: str, t) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{fn}: invalid function argument. Expected parameter `{name}` of "
                        f"type graphnn.Tensor but got {type(t)} instead.")


def _check_list(fn: str, name: str, tensors, size: int) -> list:
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{fn}: invalid function argument. Expected parameter `{name}` of "
                        f"type List[graphnn.Tensor] but got {type(tensors)} instead.")
    for t in tensors:
        _check_tensor(fn, name, t)
    if len(tensors) != size:
        raise RuntimeError(f"{fn}: argument '{name}' holds {len(tensors)} tensors, expected "
                           f"one per rank (world size {size})")
    return list(tensors)


def _check_op(fn: str, op, dtype) -> RedOpType:
    try:
        op = RedOpType(op)
    except ValueError:
        raise TypeError(f"{fn}: argument 'op' must be a ReduceOp, got {op!r}") from None
    if op is RedOpType.PREMUL_SUM:
        raise ValueError(f"{fn}: ReduceOp.PREMUL_SUM is not supported by the MPI backend")
    if op is RedOpType.AVG and not dtype.is_float:
        raise TypeError(f"{fn}: ReduceOp.AVG needs a floating-point tensor, got "
                        f"{dtype.name}")
    if op in _BITWISE and dtype.is_float:
        raise TypeError(f"{fn}: ReduceOp.{op.name} needs an integer or bool tensor, got "
                        f"{dtype.name}")
    return op


def _mpi_op(op: RedOpType, arr: np.ndarray):
    """The MPI reduction and the array to hand it. MPI has no arithmetic on C bool: bools
    reduce as bytes, SUM and MAX as logical or, PRODUCT and MIN as logical and."""
    MPI = _mpi()
    if arr.dtype == np.bool_:
        arr = arr.view(np.uint8)
        op = {RedOpType.SUM: RedOpType.MAX, RedOpType.PRODUCT: RedOpType.MIN}.get(op, op)
    table = {RedOpType.SUM: MPI.SUM, RedOpType.AVG: MPI.SUM, RedOpType.PRODUCT: MPI.PROD,
             RedOpType.MIN: MPI.MIN, RedOpType.MAX: MPI.MAX, RedOpType.BAND: MPI.BAND,
             RedOpType.BOR: MPI.BOR, RedOpType.BXOR: MPI.BXOR}
    return table[op], arr


def _finish_avg(op: RedOpType, arr: np.ndarray, size: int) -> None:
    if op is RedOpType.AVG:
        np.divide(arr, size, out=arr, casting="unsafe")


def _describe(shape, dtype) -> str:
    return f"shape {list(shape)} and dtype {dtype}"


def _same_everywhere(fn: str, name: str, sigs: list, pick) -> None:
    """RuntimeError (identical on every rank) when ``pick(signature)`` differs by rank."""
    first = pick(sigs[0])
    for r, s in enumerate(sigs):
        if pick(s) != first:
            raise RuntimeError(f"{fn}: argument '{name}' has {_describe(*first)} on rank 0 "
                               f"but {_describe(*pick(s))} on rank {r}; every rank must pass "
                               "the same shape and dtype")


def _run(pg, fn: str, job, finish, async_op: bool):
    work = Work(pg, pg.submit(job), fn, finish)
    if async_op:
        return work
    work.wait()
    return None


def all_reduce(tensor: Tensor, op=ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduces ``tensor`` over all ranks in place: afterwards every rank holds the same
    result. ``tensor``: any shape and layout, same shape and dtype on every rank. ``op``:
    a ``ReduceOp`` (AVG divides the sum by the world size). Returns None, or a ``Work``
    with ``async_op=True``. Raises ValueError before ``init_process_group``, TypeError
    for a non-tensor or an op the dtype cannot take, RuntimeError when the ranks' shapes
    or dtypes differ, DistBackendError on timeout."""
    pg = default_group("all_reduce", group)
    _check_tensor("all_reduce", "tensor", tensor)
    op = _check_op("all_reduce", op, tensor.dtype)
    arr = tensor.detach()._host()
    sig = ("all_reduce", op, tuple(arr.shape), tensor.dtype.name)

    def job():
        sigs = pg.agree("all_reduce", sig)
        _same_everywhere("all_reduce", "tensor", sigs, lambda s: (s[2], s[3]))
        if len({s[1] for s in sigs}) > 1:
            raise RuntimeError("all_reduce: argument 'op' differs between ranks: " +
                               ", ".join(f"rank {r}: {s[1].name}" for r, s in enumerate(sigs)))
        mpi_op, view = _mpi_op(op, arr)
        pg.comm.Allreduce(_mpi().IN_PLACE, view, op=mpi_op)
        _finish_avg(op, arr, pg.size)

    return _run(pg, "all_reduce", job, lambda: tensor._write_host(arr), async_op)


def broadcast(tensor: Tensor, src: int | None = None, group=None, async_op: bool = False,
              group_src: int | None = None):
    """Copies ``tensor`` from rank ``src`` into ``tensor`` on every other rank (same shape
    and dtype everywhere). Returns None, or a ``Work`` with ``async_op=True``. Raises
    ValueError before init or without ``src``, RuntimeError for a root outside
    ``[0, world size)`` or shapes that differ between ranks."""
    pg = default_group("broadcast", group)
    _check_tensor("broadcast", "tensor", tensor)
    root = src if src is not None else group_src
    if root is None:
        raise ValueError("broadcast: either src or group_src must be set")
    if src is not None and group_src is not None and src != group_src:
        raise ValueError("broadcast: src and group_src name different ranks")
    if not 0 <= int(root) < pg.size:
        raise RuntimeError(f"broadcast: invalid root rank: {root} (world size {pg.size})")
    root = int(root)
    arr = tensor.detach()._host() if pg.rank == root else \
        np.empty(tuple(tensor.shape), tensor.dtype.np)
    sig = ("broadcast", root, tuple(arr.shape), tensor.dtype.name)

    def job():
        sigs = pg.agree("broadcast", sig)
        _same_everywhere("broadcast", "tensor", sigs, lambda s: (s[2], s[3]))
        if len({s[1] for s in sigs}) > 1:
            raise RuntimeError("broadcast: argument 'src' differs between ranks: " +
                               ", ".join(f"rank {r}: {s[1]}" for r, s in enumerate(sigs)))
        view = arr.view(np.uint8) if arr.dtype == np.bool_ else arr
        pg.comm.Bcast(view, root=root)

    finish = None if pg.rank == root else (lambda: tensor._write_host(arr))
    return _run(pg, "broadcast", job, finish, async_op)


def all_gather(tensor_list: list, tensor: Tensor, group=None, async_op: bool = False):
    """Gathers ``tensor`` from every rank: ``tensor_list[r]`` receives rank r's tensor.
    ``tensor_list``: world-size tensors of ``tensor``'s shape and dtype; ``tensor`` the same
    shape and dtype on every rank. Returns None, or a ``Work`` with ``async_op=True``.
    Raises RuntimeError for a list of another length or shapes that differ."""
    pg = default_group("all_gather", group)
    _check_tensor("all_gather", "tensor", tensor)
    outs = _check_list("all_gather", "tensor_list", tensor_list, pg.size)
    for i, t in enumerate(outs):
        if tuple(t.shape) != tuple(tensor.shape) or t.dtype != tensor.dtype:
            raise RuntimeError(f"all_gather: tensor_list[{i}] has "
                               f"{_describe(t.shape, t.dtype.name)}, expected "
                               f"{_describe(tensor.shape, tensor.dtype.name)} as 'tensor'")
    arr = tensor.detach()._host()
    result = np.empty((pg.size,) + arr.shape, arr.dtype)
    sig = ("all_gather", tuple(arr.shape), tensor.dtype.name)

    def job():
        sigs = pg.agree("all_gather", sig)
        _same_everywhere("all_gather", "tensor", sigs, lambda s: (s[1], s[2]))
        byte = np.bool_
        pg.comm.Allgather(arr.view(np.uint8) if arr.dtype == byte else arr,
                          result.view(np.uint8) if arr.dtype == byte else result)

    def finish():
        for r, t in enumerate(outs):
            t._write_host(result[r])

    return _run(pg, "all_gather", job, finish, async_op)


def all_gather_into_tensor(output_tensor: Tensor, input_tensor: Tensor, group=None,
                           async_op: bool = False):
    """``all_gather`` into one tensor: ``output_tensor`` is ``(world * d0, ...)`` (ranks
    concatenated) or ``(world, d0, ...)`` (stacked) for an input of ``(d0, ...)``."""
    pg = default_group("all_gather_into_tensor", group)
    for name, t in (("output_tensor", output_tensor), ("input_tensor", input_tensor)):
        _check_tensor("all_gather_into_tensor", name, t)
    _check_sizes("all_gather_into_tensor", "output_tensor", output_tensor, input_tensor,
                 pg.size)
    parts = list(output_tensor.detach().reshape(pg.size, *input_tensor.shape)
                 if output_tensor.is_contiguous() else [])
    if not parts:
        raise RuntimeError("all_gather_into_tensor: argument 'output_tensor' must be "
                           "contiguous")
    return all_gather(parts, input_tensor, group, async_op)


def reduce_scatter(output: Tensor, input_list: list, op=ReduceOp.SUM, group=None,
                   async_op: bool = False):
    """Reduces ``input_list`` element-wise over the ranks and gives rank r the reduction of
    every rank's ``input_list[r]`` in ``output``. ``input_list``: world-size tensors of
    ``output``'s shape and dtype. Raises as ``all_reduce`` and RuntimeError for a list of
    another length or shape."""
    pg = default_group("reduce_scatter", group)
    _check_tensor("reduce_scatter", "output", output)
    ins = _check_list("reduce_scatter", "input_list", input_list, pg.size)
    op = _check_op("reduce_scatter", op, output.dtype)
    for i, t in enumerate(ins):
        if tuple(t.shape) != tuple(output.shape) or t.dtype != output.dtype:
            raise RuntimeError(f"reduce_scatter: input_list[{i}] has "
                               f"{_describe(t.shape, t.dtype.name)}, expected "
                               f"{_describe(output.shape, output.dtype.name)} as 'output'")
    send = np.stack([t.detach()._host() for t in ins]) if ins else None
    recv = np.empty(tuple(output.shape), output.dtype.np)
    sig = ("reduce_scatter", op, tuple(output.shape), output.dtype.name)

    def job():
        sigs = pg.agree("reduce_scatter", sig)
        _same_everywhere("reduce_scatter", "output", sigs, lambda s: (s[2], s[3]))
        if len({s[1] for s in sigs}) > 1:
            raise RuntimeError("reduce_scatter: argument 'op' differs between ranks")
        mpi_op, sview = _mpi_op(op, send)
        _, rview = _mpi_op(op, recv)
        pg.comm.Reduce_scatter_block(sview, rview, op=mpi_op)
        _finish_avg(op, recv, pg.size)

    return _run(pg, "reduce_scatter", job, lambda: output._write_host(recv), async_op)


def reduce_scatter_tensor(output: Tensor, input: Tensor, op=ReduceOp.SUM, group=None,
                          async_op: bool = False):
    """``reduce_scatter`` from one tensor: ``input`` is ``(world * d0, ...)`` or
    ``(world, d0, ...)`` for an ``output`` of ``(d0, ...)``; rank r gets block r."""
    pg = default_group("reduce_scatter_tensor", group)
    for name, t in (("output", output), ("input", input)):
        _check_tensor("reduce_scatter_tensor", name, t)
    _check_sizes("reduce_scatter_tensor", "input", input, output, pg.size)
    parts = list(input.detach().reshape(pg.size, *output.shape))
    return reduce_scatter(output, parts, op, group, async_op)


def _check_sizes(fn: str, name: str, big: Tensor, small: Tensor, size: int) -> None:
    if big.numel() != size * small.numel() or big.dtype != small.dtype:
        raise RuntimeError(f"{fn}: argument '{name}' has {_describe(big.shape, big.dtype.name)}"
                           f"; expected {size} x {small.numel()} elements of "
                           f"{small.dtype.name} (world size x the other tensor)")
