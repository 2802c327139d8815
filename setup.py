"""Installs the compiler folders inside the graphnn namespace (see DESIGN.md, Packaging)."""
from setuptools import find_packages, setup

_MAPPED = {"graphnn.ir": "ir", "graphnn.codegen": "codegen", "graphnn.runtime": "runtime"}


def _packages() -> tuple[list[str], dict[str, str]]:
    packages = find_packages(include=["graphnn", "graphnn.*"])
    package_dir = {"graphnn": "graphnn"}
    for name, folder in _MAPPED.items():
        package_dir[name] = folder
        packages.append(name)
        packages += [f"{name}.{sub}" for sub in find_packages(where=folder)]
    return packages, package_dir


packages, package_dir = _packages()
# the dump tool's JSON schema and its HTML viewer's script and style sheet
setup(packages=packages, package_dir=package_dir,
      package_data={"graphnn.dump": ["*.json", "*.js", "*.css"]})
