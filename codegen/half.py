"""16-bit float storage: conversions between ``ushort`` bits and ``float`` in generated C.

float16 and bfloat16 buffers hold ``ushort`` bits (no ``half`` type anywhere, so nothing
needs cl_khr_fp16); kernels compute in ``float`` (``DType.cl``). The conversions are
written with integer and float operators and ``?:`` selects only, for scalars and for
``N``-lane vectors alike: PoCL inlines and vectorises them, where the core builtins
``vload_half``/``vstore_half_rte`` are out-of-line calls (a fused float16 chain ran 5-10x
slower than float32 with them).

- float16 load: normal values rebias the exponent, subnormals are ``m * 2^-24`` (exact,
  and a normal float, so ``-cl-denorms-are-zero`` cannot flush it), inf and NaN keep their
  payload.
- float16 store: round to nearest even by integer arithmetic on the float's bits for
  normal results (F. Giesen's ``float_to_half_fast3_rtne``); subnormal results are rounded
  by the FPU in ``|x| + 0.5`` (to nearest even); 65520 and above become inf; a NaN keeps
  its sign and the top of its payload, quiet, as the x86 conversion PyTorch's CPU
  kernels use (``vcvtps2ph``).
- bfloat16: the high half of the float's bits, rounded to nearest even; NaN is 0x7FC0
  (PyTorch's ``round_to_nearest_even``).

``tests/test_half.py`` checks every float16 bit pattern and the rounding boundaries against
numpy's conversions on the device."""
from __future__ import annotations

from graphnn.ir.types import DType


def _n(width: int) -> str:
    return str(width) if width > 1 else ""


def _f16_load(n: str) -> str:
    # every mask applies to the widened 32-bit value: ``(h & 0x7FFF) << 13`` lets LLVM 14
    # keep the mask in 16-bit lanes, which it scalarises (a float16 chain ran 30x slower)
    return (f"static inline float{n} gnn_f16_load{n}(ushort{n} h) {{\n"
            f"    uint{n} w = convert_uint{n}(h) << 13;\n"
            f"    uint{n} e = w & 0x0F800000u, a = w & 0x0FFFE000u;\n"
            f"    float{n} sub = convert_float{n}(w & 0x007FE000u) * 0x1p-37f;\n"
            f"    uint{n} bits = e == 0x0F800000u ? (a | 0x7F800000u) : a + 0x38000000u;\n"
            f"    return as_float{n}(((w << 3) & 0x80000000u) | (e == 0u ? as_uint{n}(sub) : "
            f"bits));\n}}")


def _f16_store(n: str) -> str:
    return (f"static inline ushort{n} gnn_f16_store{n}(float{n} x) {{\n"
            f"    uint{n} f = as_uint{n}(x);\n"
            f"    uint{n} s = (f >> 16) & 0x8000u;\n"
            f"    f &= 0x7FFFFFFFu;\n"
            f"    uint{n} sub = as_uint{n}(as_float{n}(f) + 0.5f) - 0x3F000000u;\n"
            f"    uint{n} nrm = (f + 0xC8000FFFu + ((f >> 13) & 1u)) >> 13;\n"
            f"    uint{n} big = f > 0x7F800000u ? 0x7E00u | ((f >> 13) & 0x3FFu) : "
            f"(uint{n})(0x7C00u);\n"
            f"    return convert_ushort{n}(s | (f >= 0x47800000u ? big : "
            f"f < 0x38800000u ? sub : nrm));\n}}")


def _bf16_load(n: str) -> str:
    return (f"static inline float{n} gnn_bf16_load{n}(ushort{n} h) {{\n"
            f"    return as_float{n}(convert_uint{n}(h) << 16);\n}}")


def _bf16_store(n: str) -> str:
    return (f"static inline ushort{n} gnn_bf16_store{n}(float{n} x) {{\n"
            f"    uint{n} u = as_uint{n}(x);\n"
            f"    uint{n} r = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;\n"
            f"    return convert_ushort{n}(x != x ? (uint{n})(0x7FC0u) : r);\n}}")


_TEXT = {("float16", "load"): _f16_load, ("float16", "store"): _f16_store,
         ("bfloat16", "load"): _bf16_load, ("bfloat16", "store"): _bf16_store}


def function(preamble: dict, dtype: DType, kind: str, width: int = 1) -> str:
    """The name of ``dtype``'s ``kind`` ("load": bits to float, "store": float to bits)
    conversion for ``width`` lanes, its definition registered in ``preamble``."""
    n = _n(width)
    name = f"gnn_{dtype.short}_{kind}{n}"
    preamble[name.upper()] = _TEXT[(dtype.name, kind)](n)
    return name


def guarded(key: str, text: str) -> str:
    """``text`` under an include guard, as ``KernelWriter.source`` writes its preamble: a
    preamble entry that calls a conversion embeds its definition this way, since entries
    are emitted in key order."""
    return f"#ifndef {key}\n#define {key}\n{text}\n#endif\n"


def definition(dtype: DType, kind: str) -> tuple[str, str]:
    """The scalar ``kind`` conversion's definition, guarded, and its name."""
    entries: dict = {}
    name = function(entries, dtype, kind)
    return "".join(guarded(k, v) for k, v in entries.items()), name
