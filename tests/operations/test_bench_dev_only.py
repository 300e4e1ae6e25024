"""``bench/`` is a development tool: the product never imports it, and the production image leaves it out."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEV_ONLY = {"bench", "tests"}


def product_packages() -> list[Path]:
    """Every top-level package of the repository that ships in the image."""
    return sorted(p for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name not in DEV_ONLY)


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


def test_no_product_module_imports_the_bench_package() -> None:
    packages = product_packages()
    assert {"contactcenter", "agents", "routing", "monitoring", "responses", "reporting"} <= {p.name for p in packages}

    offenders = [
        f"{path.relative_to(ROOT)}: {module}"
        for package in packages
        for path in package.rglob("*.py")
        for module in imported_modules(path)
        if module == "bench" or module.startswith("bench.")
    ]

    assert offenders == []


def test_the_production_image_leaves_out_the_bench_package_and_the_tests() -> None:
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()}

    assert {"bench", "tests"} <= ignored
