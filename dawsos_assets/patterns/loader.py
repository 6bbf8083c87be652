"""Loading pattern files: JSON Schema first, then the rules a schema cannot say. Errors name file, step, problem."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import jsonschema

from dawsos_assets import errors
from dawsos_assets.errors import DawsosError

PATTERNS_DIR = Path(__file__).parent / "definitions"
SCHEMA = json.loads((Path(__file__).parent / "pattern.schema.json").read_text())
# Names the refactor retired: database legacy names and the API's own (qty, trade_date, …), facts §13.
LEGACY_FIELD_NAMES = {"qty", "qty_open", "qty_original", "valuation_date", "flow_date", "trade_date", "realized_pnl",
                      "value_local_legacy"}
TEMPLATE = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")


@dataclass(frozen=True)
class Pattern:
    id: str
    name: str
    version: str
    category: str
    inputs: dict
    steps: list[dict]
    outputs: list[str]
    path: Path


def _invalid(path: Path, problem: str, step: str | None = None) -> DawsosError:
    where = f"{path.name}" + (f", step '{step}'" if step else "")
    return DawsosError(errors.PATTERN_INVALID, f"{where}: {problem}",
                       "fix the pattern file (schema: dawsos_assets/patterns/pattern.schema.json)")


def _words(value) -> list[str]:
    """Every key and every dotted path segment inside templates, recursively."""
    if isinstance(value, dict):
        return [w for k, v in value.items() for w in [k, *_words(v)]]
    if isinstance(value, list):
        return [w for v in value for w in _words(v)]
    if isinstance(value, str):
        return [part for expr in TEMPLATE.findall(value) for part in expr.split(".")]
    return []


def parse(path: Path) -> Pattern:
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise _invalid(path, f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if isinstance(document, dict) and isinstance(document.get("outputs"), dict):
        raise _invalid(path, "`outputs` is an object (the legacy {\"panels\": …} form returns no data); "
                             "list the step keys to return")
    problems = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(document), key=lambda e: list(e.path))
    if problems:
        first = problems[0]
        step = None
        if len(first.path) >= 2 and first.path[0] == "steps":
            step = f"#{first.path[1] + 1}"
        raise _invalid(path, f"{'/'.join(map(str, first.path)) or 'document'}: {first.message}", step)
    keys = [s["as"] for s in document["steps"]]
    for number, step in enumerate(document["steps"], 1):
        legacy = sorted(set(_words(step)) & LEGACY_FIELD_NAMES)
        if legacy:
            raise _invalid(path, f"uses legacy field name(s) {legacy}; use the standard names "
                                 "(quantity, quantity_open, market_value, asof_date, transaction_date)",
                           f"#{number} {step['as']}")
        for expr in TEMPLATE.findall(json.dumps(step)):
            root = expr.split(".")[0]
            if root not in ("inputs", "ctx") and root not in keys[:number - 1]:
                raise _invalid(path, f"template {{{{{expr}}}}} refers to '{root}', which no earlier step produces",
                               f"#{number} {step['as']}")
    unknown = [o for o in document["outputs"] if o not in keys]
    if unknown:
        raise _invalid(path, f"outputs {unknown} are not step keys ({keys})")
    if document["id"] != path.stem:
        raise _invalid(path, f"id '{document['id']}' does not match the file name")
    return Pattern(document["id"], document["name"], document["version"], document["category"], document["inputs"],
                   document["steps"], document["outputs"], path)


def load_all(directory: Path = PATTERNS_DIR) -> dict[str, Pattern]:
    return {p.stem: parse(p) for p in sorted(directory.glob("*.json"))}


def load(pattern_id: str, directory: Path = PATTERNS_DIR) -> Pattern:
    path = directory / f"{pattern_id}.json"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in directory.glob("*.json")))
        raise DawsosError(errors.PATTERN_NOT_FOUND, f"there is no pattern '{pattern_id}'", f"use one of: {known}")
    return parse(path)
