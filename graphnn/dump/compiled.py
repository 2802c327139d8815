"""``graphnn.dump.compiled(model)``: what the latest call of a module compiled to, to inspect
from Python (``.graph``, ``.graphs``, ``.kernels``). Every module call is compiled; this
reads the executables of the call that ran last (``_compile.latest``)."""
from __future__ import annotations

from graphnn import _compile
from graphnn.ir.graph import Graph


class CompiledView:
    """The compiled graphs of a module's latest call."""

    def __init__(self, module):
        self.module = module

    def _executables(self) -> list[tuple[str, object]]:
        cg = _compile.latest(self.module._compiled)
        if cg is None:
            raise RuntimeError(f"{type(self.module).__name__} has not run a compiled graph "
                               "yet: call the model first (a forward with graph breaks or "
                               "hooks runs in pieces and has no single graph)")
        if not cg.last_wrt:
            return [("inference", cg.inference())]
        _, fwd, bwd = cg.training(cg.last_wrt)
        return [(label, exe) for label, exe in (("forward", fwd), ("backward", bwd))
                if exe is not None]

    @property
    def graphs(self) -> dict[str, Graph]:
        """The fused IR graphs of the latest call by label: ``inference``, or ``forward``
        and (once ``backward()`` ran) ``backward``. Raises RuntimeError before a call."""
        return {label: exe.fused_graph for label, exe in self._executables()}

    @property
    def graph(self) -> Graph:
        """The fused IR of the latest call (its forward graph when it recorded gradients).
        Node types carry shapes and dtypes; ``meta['group']`` is the kernel."""
        return next(iter(self.graphs.values()))

    @property
    def kernels(self) -> list:
        """The launches of the latest call's graphs in order, as ``graphnn.dump.KernelInfo``
        (name, ops, IR nodes, module scope, flops and bytes estimates, OpenCL source)."""
        from graphnn.dump.info import kernel_infos
        from graphnn.dump.model import Dumped

        out = []
        for label, exe in self._executables():
            out += kernel_infos(Dumped(label, exe.fused_graph, exe.program))
        return out


def compiled(model) -> CompiledView:
    """The compiled graphs and kernels of ``model``'s latest call. Raises TypeError when
    ``model`` is not a Module."""
    from graphnn.nn.module import Module

    if not isinstance(model, Module):
        raise TypeError(f"compiled: model must be a graphnn.nn.Module, got "
                        f"{type(model).__name__}")
    return CompiledView(model)
