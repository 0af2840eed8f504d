"""The `jobcast` command's modules import each other without a cycle: the entry point
(`main`) gathers the command groups, and no group reaches back into it."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def import_graph(package: Path) -> dict[str, set[str]]:
    """Each module of `package` (dotted, from its parent) with the package's modules it
    imports, wherever the import stands (a function-level import closes a cycle too)."""
    base = package.parent
    modules = {
        ".".join(p.relative_to(base).with_suffix("").parts).removesuffix(".__init__"): p
        for p in sorted(package.rglob("*.py"))
    }
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        graph[name] = (found & modules.keys()) - {name}
    return graph


def cycle_in(graph: dict[str, set[str]]) -> list[str]:
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        return list(error.args[1])
    return []


def test_the_cli_modules_import_no_cycle() -> None:
    graph = import_graph(ROOT / "jobcast_cli")
    assert "jobcast_cli.profiles" in graph["jobcast_cli.main"]
    assert cycle_in(graph) == []


def test_the_cycle_check_sees_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    cli = tmp_path / "cli"
    cli.mkdir()
    (cli / "__init__.py").write_text("")
    (cli / "main.py").write_text("from cli.profiles import profile\n")
    (cli / "profiles.py").write_text("def show() -> None:\n    from cli.main import helper\n")
    assert sorted(set(cycle_in(import_graph(cli)))) == ["cli.main", "cli.profiles"]
