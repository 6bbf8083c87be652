"""The DawsOS UI's panel dataPaths (ui_registry.json, from the UI's patternRegistry).

Each must resolve in its pattern's output to the type its panel renders, with the fields it reads, and be
non-empty — unless the registry says why empty is a normal answer, or the step that produces it was skipped by its
condition or warned about the gap.
"""

from __future__ import annotations

import json
from pathlib import Path

REGISTRY_FILE = Path(__file__).parent / "ui_registry.json"
JSON_TYPES = {"object": dict, "array": list, "string": str}


def data_paths() -> dict[str, list[dict]]:
    """Pattern id -> the UI panels' data paths and what each expects, from ui_registry.json."""
    return json.loads(REGISTRY_FILE.read_text())["patterns"]


def data_path_value(data: dict, path: str):
    """A dot-split walk, as the UI does: a missing segment is null."""
    value = data
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _empty(value) -> bool:
    if isinstance(value, dict):
        return all(_empty(v) for v in value.values())
    return value is None or value == [] or value == ""


def _missing_fields(value, fields: list[str]) -> list[str]:
    rows = value if isinstance(value, list) else [value]
    return sorted({f for row in rows for f in fields if not isinstance(row, dict) or f not in row})


def data_path_failures(pattern: str, data: dict, explained: set[str] = frozenset()) -> list[str]:
    """What is wrong with each dataPath of `pattern` in `data`. `explained` holds the steps whose empty output
    the trace accounts for (skipped by their condition, or with a warning).
    """
    failures = []
    for panel in data_paths().get(pattern, []):
        where, value = f"{panel['panel']} -> {panel['dataPath']}", data_path_value(data, panel["dataPath"])
        excused = panel.get("may_be_empty") or panel["dataPath"].split(".")[0] in explained
        if value is not None and not isinstance(value, JSON_TYPES[panel["type"]]):
            failures.append(f"{where}: {type(value).__name__}, expected {panel['type']}")
        elif _empty(value):  # null included
            if not excused:
                failures.append(f"{where}: empty or null, and nothing in the trace says why")
        elif _missing_fields(value, panel.get("fields", [])):
            failures.append(f"{where}: lacks {_missing_fields(value, panel['fields'])}")
    return failures
