"""Math functions written with operators, for the vector templates of ``ir/ops/elementwise.py``.

On PoCL an OpenCL builtin is an out-of-line call; its vector overload is one call per
vector (``docs/design.md``, builtin math). For ``erf`` the call is slow enough that a form
written with arithmetic operators, compiled inline, wins: a template names
``gnn_erf_{T}(x)`` and ``KernelWriter.source`` adds the definition of every such function
its kernel calls (``definitions``), for ``float`` and its vectors; other element types
(``double``) call the builtin.
"""
from __future__ import annotations

import re

_CALL = re.compile(r"\bgnn_(erf)_([a-z]+[0-9]*)\(")


def definitions(body: str) -> dict[str, str]:
    """Preamble entries (guard name -> text) for the ``gnn_<fn>_<type>`` calls in ``body``."""
    out = {}
    for fn, t in set(_CALL.findall(body)):
        out[f"GNN_{fn.upper()}_{t.upper()}"] = _FUNCTIONS[fn](t)
    return out


def _erf(t: str) -> str:
    """erf for ``t``: within 2.8 ulp of the float64 value for float (PoCL's builtin: 0.85;
    measured over 4M normal draws of scale 2 and the edge values), 2.2x faster on float16
    (PoCL 3.0, AVX-512: 2.3 against 5.0 ms for 4M floats). Below |x| = 0.5 the odd Taylor
    series of erf to x^15 (truncation under 1e-8 there); from there 1 - erfc(|x|), with
    erfc by the Chebyshev fit of Numerical Recipes (Press et al., 2nd ed., 6.2: fractional
    error under 1.2e-7 for every x), whose one ``exp`` is the builtin. NaN stays NaN, +-inf
    gives +-1, -0 stays -0."""
    if not t.startswith("float"):
        return f"static inline {t} gnn_erf_{t}({t} x) {{ return erf(x); }}"

    def c(v: str) -> str:       # a constant of type t (v has a decimal point)
        return f"(({t})({v}f))"

    series = [("-1.0", "75600.0"), ("1.0", "9360.0"), ("-1.0", "1320.0"), ("1.0", "216.0"),
              ("-1.0", "42.0"), ("1.0", "10.0"), ("-1.0", "3.0")]
    chebyshev = ["0.17087277", "-0.82215223", "1.48851587", "-1.13520398", "0.27886807",
                 "-0.18628806", "0.09678418", "0.37409196", "1.00002368", "-1.26551223"]
    a, b = series[0]
    lines = [f"static inline {t} gnn_erf_{t}({t} x) {{",
             f"    {t} z = x < {c('0.0')} ? -x : x;",
             f"    {t} z2 = z * z;",
             f"    {t} s = (({t})({a}f / {b}f));"]
    for a, b in series[1:]:
        lines.append(f"    s = s * z2 + (({t})({a}f / {b}f));")
    lines += [f"    s = s * z2 + {c('1.0')};",
              f"    {t} small = s * z * {c('1.1283791670955126')};",
              f"    {t} q = {c('1.0')} / ({c('1.0')} + {c('0.5')} * z);",
              f"    {t} p = {c(chebyshev[0])};"]
    lines += [f"    p = p * q + {c(v)};" for v in chebyshev[1:]]
    lines += [f"    {t} big = {c('1.0')} - q * exp(p - z2);",
              f"    {t} r = z < {c('0.5')} ? small : big;",
              f"    r = x < {c('0.0')} ? -r : r;",
              "    return x != x ? x : r;",
              "}"]
    return "\n".join(lines)


_FUNCTIONS = {"erf": _erf}
