"""Loading pattern files: JSON Schema first, then the rules a schema cannot say. Errors name file, step, problem."""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import jsonschema

from dawsos_assets import errors
from dawsos_assets.errors import DawsosError

PATTERNS_DIR = Path(__file__).parent / "definitions"
SCHEMA = json.loads((Path(__file__).parent / "pattern.schema.json").read_text())
# Names the refactor retired: database legacy names and the API's own (qty, trade_date, …).
LEGACY_FIELD_NAMES = {
    "qty",
    "qty_open",
    "qty_original",
    "valuation_date",
    "flow_date",
    "trade_date",
    "realized_pnl",
    "value_local_legacy",
}
TEMPLATE = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Pattern:
    """A pattern file, validated: its inputs, steps and outputs."""

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
    return DawsosError(
        errors.PATTERN_INVALID,
        f"{where}: {problem}",
        "fix the pattern file (schema: dawsos_assets/patterns/pattern.schema.json)",
    )


def _words(value) -> list[str]:
    """Every key and every dotted path segment inside templates, recursively."""
    if isinstance(value, dict):
        return [w for k, v in value.items() for w in [k, *_words(v)]]
    if isinstance(value, list):
        return [w for v in value for w in _words(v)]
    if isinstance(value, str):
        return [part for expr in TEMPLATE.findall(value) for part in expr.split(".")]
    return []


def _read_document(path: Path) -> dict:
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise _invalid(path, f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if isinstance(document, dict) and isinstance(document.get("outputs"), dict):
        raise _invalid(
            path, '`outputs` is an object (the legacy {"panels": …} form returns no data); list the step keys to return'
        )
    return document


def _check_schema(path: Path, document: dict) -> None:
    problems = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(document), key=lambda e: list(e.path))
    if problems:
        first = problems[0]
        step = None
        if len(first.path) >= 2 and first.path[0] == "steps":
            step = f"#{first.path[1] + 1}"
        raise _invalid(path, f"{'/'.join(map(str, first.path)) or 'document'}: {first.message}", step)


def _check_steps(path: Path, steps: list[dict], keys: list[str]) -> None:
    """Standard field names only, and templates that refer to inputs, ctx or an earlier step."""
    for number, step in enumerate(steps, 1):
        legacy = sorted(set(_words(step)) & LEGACY_FIELD_NAMES)
        if legacy:
            raise _invalid(
                path,
                f"uses legacy field name(s) {legacy}; use the standard names "
                "(quantity, quantity_open, market_value, asof_date, transaction_date)",
                f"#{number} {step['as']}",
            )
        for expr in TEMPLATE.findall(json.dumps(step)):
            root = expr.split(".")[0]
            if root not in ("inputs", "ctx") and root not in keys[: number - 1]:
                raise _invalid(
                    path,
                    f"template {{{{{expr}}}}} refers to '{root}', which no earlier step produces",
                    f"#{number} {step['as']}",
                )


def _check_outputs_and_inputs(path: Path, document: dict, keys: list[str]) -> None:
    unknown = [o for o in document["outputs"] if o not in keys]
    if unknown:
        raise _invalid(path, f"outputs {unknown} are not step keys ({keys})")
    if document["id"] != path.stem:
        raise _invalid(path, f"id '{document['id']}' does not match the file name")
    for name, spec in document["inputs"].items():
        problem = input_problem(spec, spec.get("default"))
        if problem:
            raise _invalid(path, f"the default of input '{name}' {problem}")


def parse(path: Path) -> Pattern:
    """Read and validate a pattern file; the first problem found is a one-line error naming the file."""
    document = _read_document(path)
    _check_schema(path, document)
    keys = [s["as"] for s in document["steps"]]
    _check_steps(path, document["steps"], keys)
    _check_outputs_and_inputs(path, document, keys)
    return Pattern(
        document["id"],
        document["name"],
        document["version"],
        document["category"],
        document["inputs"],
        document["steps"],
        document["outputs"],
        path,
    )


def load_all(directory: Path = PATTERNS_DIR) -> dict[str, Pattern]:
    """Every pattern file of `directory`, by id."""
    return {p.stem: parse(p) for p in sorted(directory.glob("*.json"))}


def load(pattern_id: str, directory: Path = PATTERNS_DIR) -> Pattern:
    """Only the name of a file in the pattern folder: never a path, however it is spelled."""
    known = sorted(p.stem for p in directory.glob("*.json"))
    if pattern_id not in known:
        raise DawsosError(
            errors.PATTERN_NOT_FOUND,
            f"there is no pattern {errors.shown(pattern_id)}",
            f"use one of: {', '.join(known)}",
        )
    return parse(directory / f"{pattern_id}.json")


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _describe_range(spec: dict) -> str:
    return f" from {spec['minimum']} to {spec['maximum']}"


def _number_problem(spec: dict, value, kind: str) -> str | None:
    wanted = int if kind == "integer" else (int, float)
    not_finite = isinstance(value, float) and not math.isfinite(value)  # JSON's NaN and Infinity
    if isinstance(value, bool) or not isinstance(value, wanted) or not_finite:
        return f"must be {'an integer' if kind == 'integer' else 'a number'}{_describe_range(spec)}"
    if not spec["minimum"] <= value <= spec["maximum"]:
        return f"must be{_describe_range(spec)}"
    return None


def _date_problem(value) -> str | None:
    if not isinstance(value, str) or not ISO_DATE.fullmatch(value):
        return "must be a date written YYYY-MM-DD"
    try:
        date.fromisoformat(value)
    except ValueError:
        return "must be a date that exists (YYYY-MM-DD)"
    return None


def _string_problem(spec: dict, value) -> str | None:
    if not isinstance(value, str) or len(value) > spec["maxLength"]:
        return f"must be text of at most {spec['maxLength']} characters"
    return "must not contain NUL characters" if "\x00" in value else None


def input_problem(spec: dict, value) -> str | None:
    """What is wrong with `value` for an input declared by `spec` (type, range, length), or None. None is fine
    here: whether a missing value is allowed is the caller's question.
    """
    kind = spec["type"]
    if value is None:
        return None
    if kind in ("integer", "number"):
        return _number_problem(spec, value, kind)
    if kind == "date":
        return _date_problem(value)
    if kind == "uuid":
        return None if isinstance(value, str) and _is_uuid(value) else "must be a UUID"
    if kind == "string":
        return _string_problem(spec, value)
    expected = {"boolean": bool, "array": list, "object": dict}[kind]
    return None if isinstance(value, expected) else f"must be a JSON {kind}"
