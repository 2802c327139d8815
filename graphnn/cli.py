"""The ``graphnn`` command: ``graphnn devices`` and ``graphnn dump``."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="graphnn", description="graphnn compiler tools")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("devices", help="list OpenCL platforms and devices; * marks the default")
    d = sub.add_parser("dump", help="show the traced graph, the passes, kernels and sources")
    d.add_argument("model", help="FILE.py:ATTR, a Module subclass or zero-argument factory")
    d.add_argument("--input", action="append", required=True, metavar="SHAPE",
                   help="an input shape such as 64,1,32,32 (repeat for several inputs)")
    d.add_argument("--train", action="store_true", help="dump the forward and backward graphs")
    d.add_argument("--format", choices=("text", "json"), default="text")
    d.add_argument("--after", default=None, metavar="PASS",
                   help="stop after this pass (trace = the graph before any pass)")
    d.add_argument("--kernels", action="store_true", help="print each kernel's OpenCL source")
    args = ap.parse_args(argv)
    if args.cmd == "devices":
        from graphnn.runtime import describe
        print(describe())
        return 0
    from graphnn.dump import as_json, as_text, dump_model, load_model, parse_shape

    model = load_model(args.model)
    dumped = dump_model(model, [parse_shape(s) for s in args.input], train=args.train,
                        after=args.after)
    text = as_json(dumped, args.kernels) if args.format == "json" else as_text(dumped,
                                                                              args.kernels)
    sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
