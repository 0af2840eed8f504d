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


# Readers of a topic's history by offset (no consumer group, no handler) and the
# operator's dead-letter replay, which picks each record's partition itself: not the
# product's consume or produce path. Named by file, so a move to a sub-package keeps them.
RAW_KAFKA_CLIENTS_ALLOWED = {
    "jobcast_cli/replay.py",  # moves a group's committed offsets
    "jobcast_cli/dlq/reading.py",  # reads dead letters by offset
    "jobcast_cli/dlq/replaying.py",  # sends a dead letter back to its own partition
    "rebuild_load.py",  # services/metrics: reads results history by offset
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
