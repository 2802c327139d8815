"""The ``graphnn`` command: ``graphnn devices`` and ``graphnn dump`` (also
``python -m graphnn ...``)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="graphnn", description="graphnn compiler tools")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("devices", help="list OpenCL platforms and devices; * marks the default")
    d = sub.add_parser("dump", help="what a model compiles to: graphs, passes, kernels, "
                       "their cost and correctness",
                       description="Traces a model and shows its graphs after the passes, "
                       "the kernels they became (lowered for the chosen device, "
                       "GRAPHNN_DEVICE), and on request what they cost and compute.")
    d.add_argument("model", help="FILE.py:ATTR, a Module subclass or zero-argument factory")
    d.add_argument("--input", action="append", required=True, metavar="SHAPE",
                   help="an input shape such as 64,1,32,32 (repeat for several inputs)")
    d.add_argument("--dtype", action="append", choices=("f32", "f64", "i64"), default=None,
                   help="input dtype: once for all inputs or once per --input (default "
                   "f32; i64 values are drawn from [0, 10))")
    mode = d.add_mutually_exclusive_group()
    mode.add_argument("--train", action="store_true",
                      help="a training step: the forward and backward graphs")
    mode.add_argument("--eval", action="store_true", help="inference in eval mode (default)")
    d.add_argument("--format", choices=("text", "table", "json", "dot", "svg", "html",
                                        "explorer"), default="text")
    passes = d.add_mutually_exclusive_group()
    passes.add_argument("--after", default=None, metavar="PASS",
                        help="stop after this pass (trace = the graph before any pass)")
    passes.add_argument("--all-passes", action="store_true",
                        help="the graph after every pass and a diff of what each changed "
                        "(files in -o DIR, default graphnn_dump/)")
    d.add_argument("--kernels", action="store_true", help="include each kernel's OpenCL source")
    d.add_argument("--why-not-fused", action="store_true",
                   help="for each value one kernel stores and another reads, the fusion "
                   "pass's reason")
    d.add_argument("--profile", action="store_true",
                   help="device time per kernel (OpenCL events), bytes, flops, compile time")
    d.add_argument("--runs", type=int, default=10, metavar="N",
                   help="timed calls for --profile (after one warm-up call; default 10)")
    d.add_argument("--memory", action="store_true",
                   help="live device bytes after each launch, and the peak")
    d.add_argument("--check", action="store_true",
                   help="compare every stored value with the numpy reference interpreter")
    d.add_argument("--atol", type=float, default=None, help="--check absolute tolerance")
    d.add_argument("--rtol", type=float, default=None, help="--check relative tolerance")
    d.add_argument("-o", "--output", default=None, metavar="PATH",
                   help="write to PATH instead of stdout (a folder for --all-passes)")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = _parser()
    args = ap.parse_args(argv)
    if args.cmd == "devices":
        from graphnn.runtime import describe
        print(describe())
        return 0
    from graphnn.dump import DumpError
    try:
        return _dump(args)
    except DumpError as e:
        ap.exit(2, f"graphnn dump: error: {e}\n")


def _dump(args) -> int:
    from graphnn.dump import build_report, example_inputs, load_model, parse_shape, render

    model = load_model(args.model)
    inputs = example_inputs([parse_shape(s) for s in args.input], args.dtype)
    report = build_report(model, inputs, train=args.train, after=args.after,
                          all_passes=args.all_passes, kernels=args.kernels,
                          why_not_fused=args.why_not_fused, profile=args.profile,
                          memory=args.memory, check=args.check, atol=args.atol,
                          rtol=args.rtol, runs=args.runs)
    text = render(report, args.format)
    if args.all_passes:
        folder = Path(args.output or "graphnn_dump")
        for path in write_passes(report, folder):
            sys.stderr.write(f"wrote {path}\n")
        sys.stdout.write(text)
        return 0
    if args.output:
        Path(args.output).write_text(text)
        if args.format == "explorer" and report.profile is not None:
            from graphnn.dump.explorer import node_data
            data = Path(args.output).with_suffix(".kernel_time.json")
            data.write_text(node_data(report))
            sys.stderr.write(f"wrote {args.output} and {data} (Model Explorer node data)\n")
        return 0
    if args.format == "explorer" and report.profile is not None:
        sys.stderr.write("graphnn dump: the kernel-time node data is written beside the graph "
                         "file: give -o PATH\n")
    sys.stdout.write(text)
    return 0


def write_passes(report, folder: Path) -> list[Path]:
    """``--all-passes``: ``LABEL.N.PASS.txt`` (the graph after pass N) and, for passes that
    changed it, ``LABEL.N.PASS.diff`` in ``folder``."""
    from graphnn.dump.info import pass_diff

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for d in report.graphs:
        for i, shot in enumerate(d.snapshots):
            path = folder / f"{d.label}.{i}.{shot.name}.txt"
            path.write_text(shot.text + "\n")
            written.append(path)
            if i and shot.changed:
                diff = folder / f"{d.label}.{i}.{shot.name}.diff"
                diff.write_text("\n".join(pass_diff(d.snapshots[i - 1].text, shot.text)) + "\n")
                written.append(diff)
    return written


if __name__ == "__main__":
    sys.exit(main())
