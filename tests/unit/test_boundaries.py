"""Packages are boundaries: a service imports shared packages, never another service.

The only allowed reach is the two publisher services into `services.publishing`, their
shared package. `services.graph_sandbox` is a dev tool (a test double of Meta's Graph
API) and is left out on both sides for now.
"""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"
ALLOWED = {
    ("publisher_facebook", "publishing"),
    ("publisher_instagram", "publishing"),
}
IGNORED = {"graph_sandbox"}


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
        if importer in IGNORED:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, module in _imported_modules(tree):
            names = module.split(".")
            if names[0] != "services" or len(names) < 2:
                continue
            imported = names[1]
            if imported in (importer, *IGNORED) or (importer, imported) in ALLOWED:
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
