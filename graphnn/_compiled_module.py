"""``graphnn.compile(model)``: torch.compile's entry point. Every module call is compiled by
graphnn already, so the wrapper calls the model; what it adds is a look at what ran:
``.graph`` (the fused IR of the latest call), ``.graphs`` and ``.kernels``."""
from __future__ import annotations

from graphnn import _compile
from graphnn.ir.graph import Graph


class CompiledModule:
    """A module as ``graphnn.compile`` returns it: calls, attributes and methods are the
    module's (``_orig_mod``, as in PyTorch)."""

    def __init__(self, module):
        object.__setattr__(self, "_orig_mod", module)

    def __call__(self, *args, **kwargs):
        return self._orig_mod(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._orig_mod, name)

    def __setattr__(self, name: str, value) -> None:
        setattr(self._orig_mod, name, value)

    def __repr__(self) -> str:
        return f"CompiledModule({self._orig_mod!r})"

    def _executables(self) -> list[tuple[str, object]]:
        cg = _compile.latest(self._orig_mod._compiled)
        if cg is None:
            raise RuntimeError(f"{type(self._orig_mod).__name__} has not run a compiled graph "
                               "yet: call the compiled model first (a forward with graph "
                               "breaks or hooks runs in pieces and has no single graph)")
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


def compile(model=None, *, fullgraph: bool = False, dynamic=None, backend="inductor",
            mode=None, options=None, disable: bool = False):
    """``torch.compile``'s signature; the options are accepted and have no effect (graphnn
    compiles every module call). Returns a CompiledModule; used as ``@graphnn.compile()``
    without a model, returns the decorator. Raises TypeError when ``model`` is not a
    Module."""
    from graphnn.nn.module import Module

    if model is None:
        return lambda m: compile(m, fullgraph=fullgraph, dynamic=dynamic, backend=backend,
                                 mode=mode, options=options, disable=disable)
    if not isinstance(model, Module):
        raise TypeError(f"graphnn.compile: model must be a graphnn.nn.Module, got "
                        f"{type(model).__name__}")
    return CompiledModule(model)
