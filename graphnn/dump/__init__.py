"""The graph-dump tool behind ``graphnn dump`` and ``graphnn.dump(model, *inputs)``: what
was traced, what each pass did, which ops share a kernel (and why others do not), what the
kernels cost in time and memory, and which one computes a wrong value.

``graphnn.dump`` is this package and is also callable: ``graphnn.dump(model, x)`` runs
``dump`` below. (Python sets a package as its parent's attribute when it is imported, so a
function of the same name would be replaced by the package; a module whose class defines
``__call__`` is the supported way to be both.)
"""
from __future__ import annotations

import sys
import types
from dataclasses import dataclass

from graphnn.dump.compiled import CompiledView, compiled
from graphnn.dump.info import (KernelInfo, UnfusedRead, kernel_infos, kernel_sources,
                               why_not_fused)
from graphnn.dump.model import (DumpError, Dumped, Traced, dump_model, example_inputs,
                                load_model, parse_shape, trace_model)
from graphnn.dump.text import as_table, as_text

FORMATS = ("text", "table", "json", "dot", "svg", "html", "explorer")


@dataclass
class Report:
    """A traced model and whatever was measured on it."""

    traced: Traced
    kernels: bool = False       # include the OpenCL source
    why: bool = False           # the fusion report
    all_passes: bool = False    # per-pass diffs
    profile: object = None      # device.Profile
    memory: object = None       # device.Memory
    check: object = None        # device.Check

    @property
    def graphs(self) -> list[Dumped]:
        return self.traced.graphs


def build_report(model, inputs: list, *, train: bool = False, after: str | None = None,
                 all_passes: bool = False, kernels: bool = False, why_not_fused: bool = False,
                 profile: bool = False, memory: bool = False, check: bool = False,
                 atol: float | None = None, rtol: float | None = None, runs: int = 10,
                 dialect=None) -> Report:
    """Traces ``model(*inputs)`` and measures what the flags ask for (see ``dump``)."""
    from graphnn.dump import device

    if all_passes and after is not None:
        raise DumpError("--after and --all-passes exclude each other: --all-passes shows "
                        "every pass")
    traced = trace_model(model, inputs, train=train, after=after, dialect=dialect,
                         snapshots=all_passes)
    report = Report(traced, kernels=kernels, why=why_not_fused, all_passes=all_passes)
    if check:
        report.check = device.check(traced, atol, rtol)
    if memory:
        report.memory = device.memory(traced)
    if profile:
        report.profile = device.profile(traced, runs)
    return report


def render(report: Report, format: str = "text") -> str:
    """The report in one of FORMATS. Raises DumpError for another format, and for ``svg``
    when Graphviz is missing (the message names the packages to install)."""
    from graphnn.dump import text

    if format in ("text", "table"):
        body = as_text(report.graphs, report.kernels) if format == "text" else \
            as_table(report.graphs, report.kernels)
        sections = [body.rstrip("\n")]
        if report.all_passes:
            sections.append(text.passes_section(report.graphs))
        if report.why:
            sections.append(text.why_section(report.graphs))
        if report.check is not None:
            sections.append(text.check_section(report.check))
        if report.memory is not None:
            sections.append(text.memory_section(report.memory))
        if report.profile is not None:
            sections.append(text.profile_section(report.profile))
        return "\n\n".join(sections) + "\n"
    if format == "json":
        from graphnn.dump.jsondoc import as_json
        return as_json(report)
    if format in ("dot", "svg"):
        from graphnn.dump.dot import as_dot, as_svg
        return as_dot(report) if format == "dot" else as_svg(as_dot(report))
    if format == "html":
        from graphnn.dump.html import as_html
        return as_html(report)
    if format == "explorer":
        from graphnn.dump.explorer import as_explorer
        return as_explorer(report)
    raise DumpError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")


def dump(model, *example_inputs, format: str = "text", train: bool = False,
         after: str | None = None, all_passes: bool = False, kernels: bool = False,
         why_not_fused: bool = False, profile: bool = False, memory: bool = False,
         check: bool = False, atol: float | None = None, rtol: float | None = None,
         runs: int = 10) -> str:
    """The dump of ``model(*example_inputs)`` as text in ``format`` (one of FORMATS).

    ``example_inputs`` are tensors of the shapes and dtypes to compile for (their values
    feed ``profile`` and ``check``). ``train`` dumps the forward and backward graphs of a
    training step (gradients of the parameters); ``after`` stops after that pass ("trace":
    before any); ``all_passes`` adds what each pass changed; ``kernels`` the OpenCL source;
    ``why_not_fused`` the fusion report; ``profile`` device time per kernel (median of
    ``runs`` calls, microseconds); ``memory`` live device bytes after each launch;
    ``check`` each stored value against the numpy reference (``atol``/``rtol``, defaults
    1e-4/1e-3 for float32, 1e-9/1e-7 for float64). The last three run on the current
    device. Raises DumpError (a ValueError) for bad arguments, TypeError for a model that
    is not a Module or an input that is not a tensor."""
    from graphnn._tensor import Tensor
    from graphnn.nn.module import Module

    if not isinstance(model, Module):
        raise TypeError(f"dump: model must be a graphnn.nn.Module, got {type(model).__name__}")
    for i, t in enumerate(example_inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"dump: example input {i} must be a tensor, got "
                            f"{type(t).__name__}")
    if format not in FORMATS:
        raise DumpError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    report = build_report(model, list(example_inputs), train=train, after=after,
                          all_passes=all_passes, kernels=kernels,
                          why_not_fused=why_not_fused, profile=profile, memory=memory,
                          check=check, atol=atol, rtol=rtol, runs=runs)
    return render(report, format)


class _CallableModule(types.ModuleType):
    def __call__(self, model, *example_inputs, **options) -> str:
        return dump(model, *example_inputs, **options)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["FORMATS", "CompiledView", "DumpError", "Dumped", "KernelInfo", "Report", "Traced",
           "UnfusedRead", "as_table", "as_text", "build_report", "compiled", "dump",
           "dump_model", "example_inputs", "kernel_infos", "kernel_sources", "load_model",
           "parse_shape", "render", "trace_model", "why_not_fused"]
