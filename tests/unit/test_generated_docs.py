"""The generated pages (docs/asyncapi.json, docs/settings.md) match the code they describe."""

from __future__ import annotations

import json
from typing import Any

from jobcast.topics import ALL_TOPICS, dead_letter_topic
from jobcast_cli import asyncapi, settings_doc
from schemas.export import CONTRACT


def test_the_asyncapi_document_is_current() -> None:
    assert asyncapi.DOC.read_text(encoding="utf-8") == asyncapi.render(), "run `make docs`"


def test_every_topic_says_what_it_carries_and_who_writes_and_reads_it() -> None:
    originals = [t.name for t in ALL_TOPICS if not t.name.endswith(dead_letter_topic(""))]
    assert sorted(asyncapi.FLOWS) == sorted(originals)
    assert {flow.record for flow in asyncapi.FLOWS.values()} <= set(CONTRACT)
    document = json.loads(asyncapi.render())
    assert set(document["channels"]) == {t.name for t in ALL_TOPICS}
    for spec in ALL_TOPICS:
        channel = document["channels"][spec.name]
        assert channel["bindings"]["kafka"]["partitions"] == spec.partitions
        assert any(op["channel"]["$ref"] == f"#/channels/{spec.name}"
                   for op in document["operations"].values())  # fmt: skip


def test_every_reference_in_the_asyncapi_document_resolves() -> None:
    document = json.loads(asyncapi.render())

    def resolve(pointer: str) -> Any:
        node: Any = document
        for part in pointer.removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def walk(node: Any) -> int:
        if isinstance(node, dict):
            found = 0
            for key, value in node.items():
                if key == "$ref":
                    resolve(value)
                    found += 1
                else:
                    found += walk(value)
            return found
        if isinstance(node, list):
            return sum(walk(value) for value in node)
        return 0

    assert walk(document) > len(ALL_TOPICS)


def test_the_settings_page_is_current() -> None:
    assert settings_doc.DOC.read_text(encoding="utf-8") == settings_doc.render(), "run `make docs`"


def test_every_setting_is_on_the_settings_page_with_a_text() -> None:
    page = settings_doc.render()
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    assert rows, page
    undocumented = [row for row in rows if row.rstrip().endswith("|  |")]
    assert undocumented == [], "give these settings a description or a comment"
