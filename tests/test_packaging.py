"""Packaging: the compiler folders live inside the graphnn namespace; pyopencl stays in
runtime/; the built wheel imports from a temporary directory."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_no_bare_compiler_modules():
    code = ("import sys, graphnn, graphnn.nn; import graphnn.runtime; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('ir', 'codegen', 'runtime')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd="/", timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_imports_flow_one_way():
    allowed = {"ir": {"ir"}, "codegen": {"ir", "codegen"},
               "runtime": {"ir", "codegen", "runtime"}}
    pattern = re.compile(r"^\s*(?:from|import)\s+(graphnn\.(\w+)|pyopencl|ir|codegen|runtime)\b",
                         re.M)
    for folder in ("ir", "codegen", "runtime", "graphnn"):
        for path in (ROOT / folder).rglob("*.py"):
            for m in pattern.finditer(path.read_text()):
                target = m.group(1)
                assert target not in ("ir", "codegen", "runtime"), f"bare import in {path}"
                if target == "pyopencl":
                    assert folder == "runtime", f"pyopencl imported outside runtime/: {path}"
                elif folder in allowed and m.group(2) in ("ir", "codegen", "runtime"):
                    assert m.group(2) in allowed[folder], f"{path} imports {target}"


def test_wheel_imports_from_a_temporary_directory(tmp_path):
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("graphnn-*.whl")
    target = tmp_path / "site"
    inst = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q",
                           "--target", str(target), str(wheel)], capture_output=True,
                          text=True, timeout=300)
    assert inst.returncode == 0, inst.stderr
    code = ("import graphnn, graphnn.ir.passes, graphnn.codegen, graphnn.runtime, "
            "graphnn.nn.modules; print(graphnn.__file__)")
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-S", "-c",
                          "import sys; sys.path.extend(%r); " % _site_paths() + code],
                         capture_output=True, text=True, cwd=str(tmp_path), env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(str(target))


def _site_paths() -> list[str]:
    # the dependencies (numpy, networkx, pyopencl) from this environment, not graphnn itself
    import site
    return [p for p in site.getsitepackages()]
