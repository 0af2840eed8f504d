"""Packages are boundaries: a service imports shared packages, never another service.

The only allowed reach is the two publisher services into `services.publishing`, their
shared package. And the product (`jobcast`, `schemas`, `services`) never imports the
development tools in `devtools/`, which the wheel and the image leave out.
"""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"
ALLOWED = {
    ("publisher_facebook", "publishing"),
    ("publisher_instagram", "publishing"),
}


def _imported_modules(tree: ast.Module) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # `from services import publishing` names the package in the alias.
            if node.module == "services":
                found.extend((node.lineno, f"services.{a.name}") for a in node.names)
    return found


def _crossings() -> list[str]:
    crossings: list[str] = []
    for path in sorted(SERVICES.rglob("*.py")):
        parts = path.relative_to(SERVICES).parts
        if len(parts) < 2:  # services/__init__.py belongs to no service
            continue
        importer = parts[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, module in _imported_modules(tree):
            names = module.split(".")
            if names[0] != "services" or len(names) < 2:
                continue
            imported = names[1]
            if imported == importer or (importer, imported) in ALLOWED:
                continue
            where = path.relative_to(SERVICES.parent)
            crossings.append(f"{where}:{line} imports {module}")
    return crossings


def test_services_import_only_shared_packages_and_their_own_modules() -> None:
    crossings = _crossings()
    assert not crossings, "a service reaches into another service:\n" + "\n".join(crossings)


def test_the_check_sees_every_service() -> None:
    services = {p.parent.name for p in SERVICES.glob("*/__init__.py")}
    assert {"distributor", "ingest", "metrics", "publishing"} <= services


def test_the_product_never_imports_the_development_tools() -> None:
    root = SERVICES.parent
    found = [
        f"{path.relative_to(root)}:{line} imports {module}"
        for package in ("jobcast", "schemas", "services")
        for path in sorted((root / package).rglob("*.py"))
        for line, module in _imported_modules(ast.parse(path.read_text(encoding="utf-8")))
        if module.split(".")[0] == "devtools"
    ]
    assert not found, "\n".join(found)
