"""Packages are boundaries: a service imports shared packages, never another service.

The only allowed reach is the publisher services into `services.publishing`, their
shared package. And the product (`jobcast`, `schemas`, `services`) never imports the
development tools in `devtools/`, which the wheel and the image leave out, nor (with the
CLI) an HTTP client library but aiohttp.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"
ALLOWED = {
    ("publisher_facebook", "publishing"),
    ("publisher_instagram", "publishing"),
    ("publisher_threads", "publishing"),
    ("publisher_linkedin", "publishing"),
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


def _imports_of(libraries: set[str], packages: tuple[str, ...]) -> list[str]:
    """Where `packages` import any of `libraries` (by top-level name)."""
    root = SERVICES.parent
    return [
        f"{path.relative_to(root)}:{line} imports {module}"
        for package in packages
        for path in sorted((root / package).rglob("*.py"))
        for line, module in _imported_modules(ast.parse(path.read_text(encoding="utf-8")))
        if module.split(".")[0] in libraries
    ]


def test_the_product_never_imports_the_development_tools() -> None:
    found = _imports_of({"devtools"}, ("jobcast", "schemas", "services"))
    assert not found, "\n".join(found)


def test_the_product_has_one_http_client_library() -> None:
    # aiohttp (`jobcast.http_client`, `jobcast.graph`); httpx is for the tests only.
    found = _imports_of({"httpx", "httpcore"}, ("jobcast", "jobcast_cli", "schemas", "services"))
    assert not found, "\n".join(found)


# Readers of a topic's history by offset (no consumer group, no handler) and the
# operator's dead-letter replay, which picks each record's partition itself: not the
# product's consume or produce path. Named by file, so a move to a sub-package keeps them.
RAW_KAFKA_CLIENTS_ALLOWED = {
    "jobcast_cli/replay.py",  # moves a group's committed offsets
    "jobcast_cli/dlq/reading.py",  # reads dead letters by offset
    "jobcast_cli/dlq/replaying.py",  # sends a dead letter back to its own partition
    "services/metrics/rebuild/load.py",  # reads results history by offset
}
_RAW_CLIENTS = {"AIOKafkaConsumer", "AIOKafkaProducer"}
_RAW_MODULES = {"aiokafka.consumer", "aiokafka.producer"}


def _raw_kafka_clients(tree: ast.Module) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] == "aiokafka":
                named = {a.name for a in node.names} & _RAW_CLIENTS
                found += [(node.lineno, f"{node.module}.{name}") for name in sorted(named)]
            if any(node.module.startswith(m) for m in _RAW_MODULES):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, a.name)
                for a in node.names
                if any(a.name.startswith(m) for m in _RAW_MODULES)
            ]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"publish", "publish_batch", "subscriber"}
            and ast.unparse(node.func.value).lower().endswith("broker")
        ):
            found.append((node.lineno, f"{ast.unparse(node.func)}()"))
    return found


def _outside_the_kafka_package() -> list[str]:
    root = SERVICES.parent
    found = []
    for package in ("jobcast", "jobcast_cli", "schemas", "services"):
        for path in sorted((root / package).rglob("*.py")):
            where = path.relative_to(root).as_posix()
            if where.startswith("jobcast/kafka/"):
                continue
            if where in RAW_KAFKA_CLIENTS_ALLOWED or path.name in RAW_KAFKA_CLIENTS_ALLOWED:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            found += [f"{where}:{line} uses {what}" for line, what in _raw_kafka_clients(tree)]
    return found


def test_records_are_consumed_and_produced_only_through_jobcast_kafka() -> None:
    found = _outside_the_kafka_package()
    assert not found, (
        "consume through jobcast.kafka (subscribe_validated*, ConcurrentConsumer) and "
        "produce through jobcast.kafka.produce, so retries and dead letters stay one "
        "mechanism:\n" + "\n".join(found)
    )


def test_the_kafka_client_check_sees_what_it_forbids() -> None:
    tree = ast.parse(
        "from aiokafka import AIOKafkaConsumer, errors\n"
        "import aiokafka.producer\n"
        "async def f(broker, self):\n"
        "    await broker.publish(b'', topic='t')\n"
        "    self._broker.subscriber('t')\n"
        "    await other.publish(b'')\n"
    )
    assert sorted(what for _, what in _raw_kafka_clients(tree)) == [
        "aiokafka.AIOKafkaConsumer",
        "aiokafka.producer",
        "broker.publish()",
        "self._broker.subscriber()",
    ]


# A service's layers: wiring, handlers, pure domain, SQL, settings. Its domain modules are
# `domain.py`, `models.py`, those of a `domain/` package, and every module but the wiring
# (`app`, `effects`) that imports no I/O library; a SQL module is a `repo*.py` or one that
# imports a database library. A service may keep its layers in sub-packages (metrics).
# Domain code takes its types from `models`, so it never reaches SQL, directly or through
# another module of its service.
_SQL_LIBRARIES = ("asyncpg", "jobcast.db")
_IO_LIBRARIES = (
    *_SQL_LIBRARIES,
    "aiokafka",
    "faststream",
    "fastapi",
    "starlette",
    "aiohttp",
    "jobcast.http_client",
    "jobcast.public_http",
    "jobcast.kafka",
    "jobcast.consumer",
    "jobcast.batching",
    "jobcast.service",
    "jobcast.http_edge",
    "jobcast.http_transport",
    "jobcast.graph",
)
_DOMAIN_BY_NAME = ("domain", "models")
_WIRING_BY_NAME = ("__main__", "app", "effects")  # wiring reaches every layer, by its job
_NOT_YET_CHECKED: set[str] = set()


@dataclass(frozen=True)
class _Layers:
    imports: dict[str, list[str]]  # module (file stem) -> every module it imports
    siblings: dict[str, list[str]]  # module -> the modules of its own service it imports
    sql: set[str]
    domain: list[str]


def _layers(service: Path) -> _Layers:
    own = f"services.{service.name}"
    imports: dict[str, list[str]] = {}  # module, dotted below the service: `readmodel.repo`
    for path in sorted(service.rglob("*.py")):
        name = ".".join(path.relative_to(service).with_suffix("").parts)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        imports[name] = [m for _, m in _imported_modules(tree)] + [
            f"{node.module}.{alias.name}"  # `from services.<service>[.package] import repo`
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module == own or (node.module or "").startswith(own + "."))
            for alias in node.names
        ]
    siblings = {
        name: sorted(
            {m.removeprefix(own + ".") for m in found if m.startswith(own + ".")}
            & imports.keys() - {name}
        )
        for name, found in imports.items()
    }
    sql = {
        name
        for name, found in imports.items()
        if name.split(".")[-1].startswith("repo")
        or any(_is_under(m, _SQL_LIBRARIES) for m in found)
    }
    domain = [
        name
        for name, found in imports.items()
        if name.split(".")[-1] in _DOMAIN_BY_NAME
        or "domain" in name.split(".")[:-1]  # a `domain/` package
        or (
            name.split(".")[-1] not in _WIRING_BY_NAME
            and not any(_is_under(m, _IO_LIBRARIES) for m in found)
        )
    ]
    return _Layers(imports, siblings, sql, domain)


def _is_under(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def domain_reaching_sql(service: Path) -> list[str]:
    """Each shortest path from a domain module of `service` to one of its SQL modules."""
    layers = _layers(service)
    found: list[str] = []
    for start in layers.domain:
        if start in layers.sql:
            found.append(f"{service.name}/{start}.py is SQL itself")
            continue
        paths, seen = [[start]], {start}
        while paths:
            path = paths.pop(0)
            for sibling in layers.siblings[path[-1]]:
                if sibling in seen:
                    continue
                seen.add(sibling)
                if sibling in layers.sql:
                    found.append(" -> ".join(f"{service.name}/{m}.py" for m in [*path, sibling]))
                else:
                    paths.append([*path, sibling])
    return found


def test_domain_modules_never_reach_sql() -> None:
    services = [p.parent for p in sorted(SERVICES.glob("*/__init__.py"))]
    checked = [s for s in services if s.name not in _NOT_YET_CHECKED]
    assert {"distributor", "ingest", "metrics", "publishing"} <= {s.name for s in checked}
    for name, domain, sql in (
        ("distributor", "domain", "repo"),
        ("ingest", "domain", "repo"),
        ("metrics", "engagement.domain", "readmodel.repo"),
    ):
        layers = _layers(SERVICES / name)
        assert domain in layers.domain, name
        assert sql in layers.sql, name
    found = [line for service in checked for line in domain_reaching_sql(service)]
    assert not found, "a domain module reaches SQL (take its types from models):\n" + "\n".join(
        found
    )


def test_the_layer_check_finds_sql_behind_a_domain_module(tmp_path: Path) -> None:
    service = tmp_path / "shop"
    service.mkdir()
    (service / "models.py").write_text("from dataclasses import dataclass\n")
    (service / "repo.py").write_text("import asyncpg\nfrom services.shop.models import X\n")
    (service / "pricing.py").write_text("from services.shop import repo\n")
    (service / "domain.py").write_text("from services.shop.pricing import price\n")
    (service / "handlers.py").write_text("import asyncpg\nfrom services.shop import domain, repo\n")
    assert sorted(domain_reaching_sql(service)) == [
        "shop/domain.py -> shop/pricing.py -> shop/repo.py",
        "shop/pricing.py -> shop/repo.py",
    ]
    (service / "pricing.py").write_text("from services.shop.models import X\n")
    assert domain_reaching_sql(service) == []
