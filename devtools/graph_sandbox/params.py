"""Typed access to Graph call parameters and the ``fields=`` mini-language."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import invalid_param, missing_param

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One requested field: ``reactions.summary(total_count).limit(0)`` → name + modifiers."""

    name: str
    modifiers: str = ""


def parse_fields(text: str) -> list[FieldSpec]:
    """Split a ``fields`` value at top-level commas (nested ``{}``/``()`` are kept whole)."""
    specs: list[FieldSpec] = []
    depth = 0
    start = 0
    for i, ch in enumerate(text + ","):
        if ch in "({":
            depth += 1
        elif ch in ")}":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            part = text[start:i].strip()
            start = i + 1
            if not part:
                continue
            cut = len(part)
            for sep in ".{(":
                pos = part.find(sep)
                if pos != -1:
                    cut = min(cut, pos)
            specs.append(FieldSpec(part[:cut].strip(), part[cut:]))
    return specs


class Params:
    """Read-only view over merged query/form/JSON parameters with Graph-style validation."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    def __contains__(self, name: str) -> bool:
        return name in self._data

    def raw(self, name: str) -> Any:
        """The value as received (``None`` when absent)."""
        return self._data.get(name)

    def get_str(self, name: str) -> str | None:
        """The value as a string; JSON numbers/booleans are converted like a form would."""
        value = self._data.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (list, dict)):
            return json.dumps(value)
        return str(value)

    def require(self, name: str) -> str:
        """A non-empty string value or code 100 "The parameter X is required"."""
        value = self.get_str(name)
        if value is None or value == "":
            raise missing_param(name)
        return value

    def get_bool(self, name: str, default: bool) -> bool:
        """A boolean (``true``/``false``/``1``/``0``); anything else is code 100."""
        value = self._data.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise invalid_param(f"Param {name} must be a boolean")

    def get_int(self, name: str) -> int | None:
        """An integer or ``None``; non-numeric values are code 100."""
        value = self._data.get(name)
        if value is None or value == "":
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise invalid_param(f"Param {name} must be an integer") from None

    def json_list(self, name: str) -> list[Any] | None:
        """A JSON array given as a string (form) or as a real array (JSON body)."""
        value = self._data.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, list):
            return value
        try:
            parsed = json.loads(str(value))
        except json.JSONDecodeError:
            raise invalid_param(f"Param {name} must be a JSON array") from None
        if not isinstance(parsed, list):
            raise invalid_param(f"Param {name} must be a JSON array")
        return parsed

    def indexed(self, name: str) -> list[Any]:
        """Values sent PHP-style as ``name[0]``, ``name[1]``... (JSON strings are decoded)."""
        prefix = name + "["
        found: list[tuple[int, Any]] = []
        for key, value in self._data.items():
            if key.startswith(prefix) and key.endswith("]") and key[len(prefix) : -1].isdigit():
                item = value
                if isinstance(value, str) and value.startswith(("{", "[")):
                    try:
                        item = json.loads(value)
                    except json.JSONDecodeError:
                        item = value
                found.append((int(key[len(prefix) : -1]), item))
        return [item for _, item in sorted(found, key=lambda pair: pair[0])]

    def csv(self, name: str) -> list[str]:
        """A comma-separated list (or an array) of non-empty strings."""
        value = self._data.get(name)
        if value is None:
            return []
        items = value if isinstance(value, list) else str(value).split(",")
        return [str(item).strip() for item in items if str(item).strip()]

    def fields(self, default: str) -> list[FieldSpec]:
        """Requested fields, or ``default`` when ``fields`` is absent."""
        value = self.get_str("fields")
        return parse_fields(value if value else default)
