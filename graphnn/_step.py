"""``graphnn.compile``: a whole training step as one graph.

``step = graphnn.compile(fn)`` traces ``fn`` (forward, loss, ``loss.backward()``,
``optimizer.step()``) into one IR graph, so fusion crosses what eager execution keeps
apart: the loss joins the last layer's kernels, each gradient joins its parameter's update.
While the step is traced:

- ``loss.backward()`` adds the gradient nodes to the same graph (``ir.autodiff.gradients``)
  and binds each parameter's ``.grad`` to its traced gradient;
- an optimizer's ``step()`` applies its update rule to the traced gradients; parameters and
  optimizer state are written in place (the graph's write-back outputs, as for BatchNorm's
  running statistics), and the per-step scalars (learning rate, bias corrections, step
  counts) are computed on the host at every call by a *prelude* the optimizer registers,
  so a schedule or a step count never recompiles;
- everything else in ``fn`` is Python run once, at trace time (call ``scheduler.step()``
  outside the compiled step; the learning rate it sets is read at every call).

After each call the parameters, state and buffers hold their new values and every
parameter's ``.grad`` holds the step's gradient (it replaces what was there: put
``optimizer.zero_grad()`` in the step as usual). A new input signature (shapes, dtypes)
traces again; the leading dimension is symbolic, so a smaller last batch reuses the kernels.
Code that reads a value (``loss.item()``) cannot be part of the graph: return the loss and
read it after the call.
"""
from __future__ import annotations

import functools
from typing import Callable

from graphnn import _compile, autograd
from graphnn._errors import GraphBreak
from graphnn._tensor import Tensor
from graphnn._trace import Tracer, current
from graphnn.ir.autodiff import gradients


class StepTracer(Tracer):
    """A tracer that also traces ``backward()`` and optimizer steps (see the module)."""

    whole_step = True

    def __init__(self):
        super().__init__()
        self.preludes: list[Callable[[], None]] = []   # host code run before every call
        self.grads: dict[int, Tensor] = {}             # id(leaf) -> leaf whose .grad is traced

    def backward(self, tensors: list[Tensor], grad_tensors: list) -> None:
        """``backward()`` inside the step: gradient nodes in this graph, bound to ``.grad``
        of every captured leaf that requires grad."""
        seeds = []
        for t, g in zip(tensors, grad_tensors):
            if not t.requires_grad:
                raise RuntimeError("element 0 of tensors does not require grad and does not "
                                   "have a grad_fn")
            if g is None:
                if t.numel() != 1:
                    raise RuntimeError(f"grad can be implicitly created only for scalar "
                                       f"outputs (got a tensor of shape {list(t.shape)})")
                seed = self.const(1.0, t.dtype)
            else:
                seed = self.node_of(g)
            seeds.append((self.node_of(t), seed))
        leaves = [t for t in self.captured if t.requires_grad and t.is_leaf]
        wrt = [self._captured_ids[id(t)] for t in leaves]
        for leaf, node in zip(leaves, gradients(self.graph, seeds, wrt)):
            if node is None:
                continue
            g = self._made(Tensor._symbolic(self._sym(node), False))
            with autograd.no_grad():
                leaf.grad = g if leaf.grad is None else leaf.grad + g
            self.grads[id(leaf)] = leaf

    def _sym(self, node: int):
        from graphnn.ir.builder import Sym
        return Sym(self.graph, node, self.scope_name)


def tracing_step() -> StepTracer | None:
    """The active whole-step tracer, if any."""
    tracer = current()
    return tracer if getattr(tracer, "whole_step", False) else None


class CompiledStep:
    """A function compiled with its backward and optimizer steps into one graph."""

    def __init__(self, fn: Callable):
        self.fn = fn
        self._cache: dict = {}
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        tensors = _compile.tensor_leaves(args, kwargs)
        key = (_compile.signature(tensors), tuple(a.requires_grad for a in tensors),
               tuple(_compile._static(a) for a in args),
               tuple(sorted((k, _compile._static(v)) for k, v in kwargs.items())))
        entry = self._cache.get(key)
        if entry is None:
            entry = self._cache[key] = self._trace(args, kwargs)
        cg, captured, preludes, grad_leaves = entry
        for prelude in preludes:
            prelude()
        inputs = tensors + captured
        for pos, check in cg.checks:
            if inputs[pos].numel():
                check(inputs[pos]._host())
        with autograd.no_grad():
            outs = cg.run(inputs)
        n = len(outs) - len(cg.mutations) - len(grad_leaves)
        returned = {id(o._storage) for o in outs[:n]}
        muts = outs[n:n + len(cg.mutations)]
        for (kind, ref), new in zip(cg.mutations, muts):
            target = tensors[ref] if kind == "arg" else ref
            _compile.write_back(target, new, id(new._storage) not in returned)
        for leaf, g in zip(grad_leaves, outs[n + len(cg.mutations):]):
            leaf.grad = g
        return _compile._unflatten(cg.out_tree, outs[:n])

    def _trace(self, args, kwargs):
        tracer = StepTracer()
        tracer.root_name = getattr(self.fn, "__name__", "step")
        inputs = [tracer.input(t, name=f"arg{i}")
                  for i, t in enumerate(_compile.tensor_leaves(args, kwargs))]
        sym_args, sym_kwargs = _compile._replace_leaves(args, kwargs, iter(inputs))
        input_nodes = [s._sym.id for s in inputs]
        try:
            with tracer:
                out = self.fn(*sym_args, **sym_kwargs)
                flat, tree, outputs, mutations = _compile.traced_outputs(tracer, out, inputs,
                                                                         input_nodes)
                grad_leaves = list(tracer.grads.values())
                outputs += [tracer.node_of(leaf.grad) for leaf in grad_leaves]
        except GraphBreak as e:
            raise RuntimeError(f"graphnn.compile: {tracer.root_name} cannot be one graph "
                               f"({e}); return the value and read it after the call") from None
        finally:
            # the traced gradients must not outlive the trace: the call sets real ones
            for leaf in tracer.grads.values():
                leaf.grad = None
        tracer.graph.outputs = outputs
        cg = _compile.CompiledGraph(tracer.graph, len(input_nodes), tracer.root_name + ".step",
                                    tree, mutations)
        cg.checks = list(tracer.checks)
        return cg, list(tracer.captured), list(tracer.preludes), grad_leaves


def compile(model=None, *, fullgraph: bool = True, dynamic=None, backend=None, mode=None,
            options=None, disable: bool = False):
    """``torch.compile``'s signature. A ``Module`` is returned as it is (every module call
    already runs as a compiled graph); a function is compiled with its ``backward()`` and
    optimizer steps into one graph (see ``graphnn._step``). Usable as a decorator, with or
    without arguments. ``backend``, ``mode``, ``dynamic`` and ``options`` are accepted and
    ignored; ``disable=True`` returns ``model`` unchanged."""
    if model is None:
        return lambda fn: compile(fn, fullgraph=fullgraph, dynamic=dynamic, backend=backend,
                                  mode=mode, options=options, disable=disable)
    from graphnn.nn.module import Module
    if disable or isinstance(model, Module):
        return model
    if not callable(model):
        raise RuntimeError(f"compile: expected a Module or a function, got "
                           f"{type(model).__name__}")
    return CompiledStep(model)
