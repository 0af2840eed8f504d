"""docs/settings.md, generated from the settings classes so it cannot drift.

`python -m jobcast_cli.settings_doc` writes it; `--check` (run by `make lint` and a unit test)
fails when the file and the classes disagree. A setting's text is its `Field(description=)`,
else the comment written on or just above its line in the class.
"""

from __future__ import annotations

import ast
import inspect
import io
import json
import textwrap
import tokenize
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from jobcast.graph.settings import GraphSettings
from jobcast.linkedin.settings import LinkedInSettings
from jobcast.settings import CommonSettings
from jobcast_cli.generated import write_or_check
from services.console.settings import ConsoleSettings
from services.distributor.settings import DistributorSettings
from services.ingest.settings import IngestSettings
from services.metrics.settings import MetricsSettings
from services.publisher_facebook.settings import FacebookPublisherSettings
from services.publisher_instagram.settings import InstagramPublisherSettings
from services.publisher_linkedin.settings import LinkedInPublisherSettings
from services.publisher_threads.settings import ThreadsPublisherSettings
from services.publishing.settings import ContainerPublisherSettings, PublisherSettings

DOC = Path(__file__).resolve().parent.parent / "docs" / "settings.md"

SECTIONS: list[tuple[str, type[BaseSettings]]] = [
    ("Every service", CommonSettings),
    ("Every service that calls the Graph API", GraphSettings),
    ("Every service that calls LinkedIn", LinkedInSettings),
    ("ingest", IngestSettings),
    ("distributor", DistributorSettings),
    ("Every publisher", PublisherSettings),
    ("publisher_facebook", FacebookPublisherSettings),
    (
        "publisher_instagram and publisher_threads (`<SERVICE>_` is `PUBLISHER_INSTAGRAM_` "
        "or `PUBLISHER_THREADS_`)",
        ContainerPublisherSettings,
    ),
    ("publisher_instagram", InstagramPublisherSettings),
    ("publisher_threads", ThreadsPublisherSettings),
    ("publisher_linkedin", LinkedInPublisherSettings),
    ("metrics", MetricsSettings),
    ("console", ConsoleSettings),
]

PREAMBLE = """\
# Settings (environment)

Generated from the settings classes by `python -m jobcast_cli.settings_doc` (`make docs`);
`make test` fails when this page and the code disagree. Every service reads its settings from
environment variables once at start; a service's own variables carry its prefix. Values that
are lists are JSON (`PUBLISH_RETRY_DELAYS='[30, 120]'`).

`make up` writes the endpoints it started to `.jobcast/env`. When `KAFKA_BOOTSTRAP_SERVERS`,
`DATABASE_URL` or `GRAPH_API_URL` is set, `make up` and the test session use that endpoint
instead of starting one (and `make up` keeps it on later runs: see
[operations](operations.md)). `JOBCAST_CACHE_DIR` (default `~/.cache/jobcast`) is where the
Kafka jars are kept.
"""


def render() -> str:
    """The page as the classes describe it."""
    parts = [PREAMBLE]
    for title, cls in SECTIONS:
        rows = [_row(cls, name, field) for name, field in _own_fields(cls)]
        if not rows:
            continue
        prefix = cls.model_config.get("env_prefix") or ""
        note = f" (prefix `{prefix}`)" if prefix else ""
        parts.append(f"## {title}{note}\n\n| variable | default | what |\n|---|---|---|\n")
        parts[-1] += "".join(f"| {env} | {default} | {text} |\n" for env, default, text in rows)
    return "\n".join(parts)


def _own_fields(cls: type[BaseSettings]) -> list[tuple[str, FieldInfo]]:
    declared = inspect.get_annotations(cls)
    return [(name, field) for name, field in cls.model_fields.items() if name in declared]


def _row(cls: type[BaseSettings], name: str, field: FieldInfo) -> tuple[str, str, str]:
    return _env_names(cls, name, field), _default(field), _text(cls, name, field)


def _env_names(cls: type[BaseSettings], name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    if isinstance(alias, str):
        names = [alias]
    elif isinstance(alias, AliasChoices):
        names = [str(choice) for choice in alias.choices]
    else:
        prefix = cls.model_config.get("env_prefix") or "<SERVICE>_"
        names = [f"{prefix}{name}".upper()]
    return " or ".join(f"`{n}`" for n in names)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, tuple | list | dict):
        text = json.dumps(value, default=str)
    elif isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    return f"`{text}`".replace("|", "\\|")


def _text(cls: type[BaseSettings], name: str, field: FieldInfo) -> str:
    text = field.description or _comments(cls).get(name, "")
    return " ".join(text.split()).replace("|", "\\|")


def _comments(cls: type[Any]) -> dict[str, str]:
    """Each field's comment: the block of comment lines right above it, or one on its line."""
    source = textwrap.dedent(inspect.getsource(cls))
    lines = source.splitlines()
    on_line: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            on_line[token.start[0]] = token.string.lstrip("#").strip()
    found: dict[str, str] = {}
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    for node in body.body:
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            continue
        above: list[str] = []
        line = node.lineno - 1
        while line >= 1 and lines[line - 1].strip().startswith("#"):
            above.insert(0, on_line.get(line, ""))
            line -= 1
        trailing = [
            on_line[n] for n in range(node.lineno, (node.end_lineno or 0) + 1) if n in on_line
        ]
        found[node.target.id] = " ".join([*above, *trailing])
    return found


def main() -> int:
    return write_or_check(DOC, render())


if __name__ == "__main__":
    raise SystemExit(main())
