"""The DawsOS UI's panel dataPaths (ui_registry.json, facts §7.1): each must resolve in its pattern's output."""

from __future__ import annotations

import json
from pathlib import Path

REGISTRY_FILE = Path(__file__).parent / "ui_registry.json"


def data_paths() -> dict[str, list[dict]]:
    return json.loads(REGISTRY_FILE.read_text())["patterns"]


def unresolved(pattern: str, data: dict) -> list[str]:
    """The dataPaths of `pattern` whose value is missing or null in `data` (a dot-split walk, as the UI does)."""
    missing = []
    for panel in data_paths().get(pattern, []):
        value = data
        for part in panel["dataPath"].split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            missing.append(f"{panel['panel']} -> {panel['dataPath']}")
    return missing
