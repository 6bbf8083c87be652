"""The pattern engine: templates, conditions, sequential fail-fast steps, an execution trace, coded errors."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TypeVar

import psycopg

from dawsos_assets import errors
from dawsos_assets.database.inspect import require_standard_names, require_tables
from dawsos_assets.errors import DawsosError
from dawsos_assets.patterns.loader import TEMPLATE, Pattern, input_problem
from dawsos_assets.patterns.registry import CapabilityRegistry

# What a pattern reads before its first step: the portfolio and the latest pricing pack.
DAWSOS_TABLES = ("portfolios", "pricing_packs")
_WHOLE = re.compile(r"^\{\{\s*([^}]+?)\s*\}\}$")
_COMPARISON = re.compile(r"^(.+?)\s*(==|!=)\s*(.+)$")
T = TypeVar("T")


class BatchMemo:
    """Lookups made once for a batch of runs (one pattern over many portfolios, or a single run): the database
    checks, the pricing pack, FX rates, the scenario library, benchmark closes, a security's returns. A batch reads
    one consistent set of reference data, and each portfolio costs dozens of queries fewer (queries were most of a
    run). A portfolio's own data goes in the run's memo (RequestContext.run_memo), dropped when its run ends.
    """

    def __init__(self):
        self._values: dict[tuple, object] = {}

    def get(self, key: tuple, compute: Callable[[], T]) -> T:
        """The value kept under `key`, computed (and kept) on first use."""
        if key not in self._values:
            self._values[key] = compute()
        return self._values[key]  # type: ignore[return-value]


@dataclass(frozen=True)
class RequestContext:
    """What every step may read as {{ctx.*}} (DawsOS's RequestCtx, with the pack resolved from the database)."""

    pricing_pack_id: str
    asof_date: date
    portfolio_id: str | None
    base_currency: str
    trace_id: str
    memo: BatchMemo = field(default_factory=BatchMemo, compare=False, repr=False)
    # a portfolio's betas and daily values, read once per run: a batch of 1,000 portfolios does not keep them all
    run_memo: BatchMemo = field(default_factory=BatchMemo, compare=False, repr=False)

    def as_dict(self) -> dict:
        """The context as JSON values, for templates (`{{ctx.…}}`) and stored outputs."""
        return {
            "pricing_pack_id": self.pricing_pack_id,
            "asof_date": self.asof_date.isoformat(),
            "portfolio_id": self.portfolio_id,
            "base_currency": self.base_currency,
            "trace_id": self.trace_id,
        }


@dataclass
class StepTrace:
    """What one step of a run did: the capability it resolved to, its time and its warnings."""

    step: str
    capability: str
    resolved_to: str
    duration_ms: float
    skipped: bool = False
    warnings: list[str] = field(default_factory=list)


@dataclass
class PatternResult:
    """A pattern's output, with the trace of its steps and the context it ran in."""

    pattern: str
    data: dict
    trace: list[StepTrace]
    context: RequestContext
    duration_ms: float

    @property
    def warnings(self) -> list[str]:
        """Every step's warnings, prefixed with the step's name."""
        return [f"{t.step}: {w}" for t in self.trace for w in t.warnings]

    @property
    def explained_steps(self) -> set[str]:
        """Steps whose gaps the trace accounts for: skipped by their condition, or with a warning."""
        return {t.step for t in self.trace if t.skipped or t.warnings}


def _lookup(path: str, scope: dict):
    value = scope
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        else:
            return None  # a missing key resolves to null, as in DawsOS
    return value


def resolve(value, scope: dict):
    """Replace templates: a whole-string template keeps the value's type; embedded ones interpolate text."""
    if isinstance(value, dict):
        return {k: resolve(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, scope) for v in value]
    if isinstance(value, str):
        whole = _WHOLE.match(value)
        if whole:
            return _lookup(whole.group(1), scope)
        return TEMPLATE.sub(lambda m: str(_lookup(m.group(1), scope)), value)
    return value


def _literal(text: str, scope: dict):
    text = text.strip()
    if _WHOLE.match(text):
        return resolve(text, scope)
    if text in ("null", "None"):
        return None
    if text in ("true", "false"):
        return text == "true"
    if text[:1] in "'\"" and text[-1:] == text[:1]:
        return text[1:-1]
    try:
        return float(text)
    except ValueError:
        return text


def condition_holds(condition: str | None, scope: dict) -> bool:
    """Whether a step's condition holds in the scope (no condition always holds)."""
    if condition is None:
        return True
    comparison = _COMPARISON.match(condition)
    if comparison and not _WHOLE.match(condition.strip()):
        left, operator, right = comparison.groups()
        equal = _literal(left, scope) == _literal(right, scope)
        return equal if operator == "==" else not equal
    return bool(_literal(condition, scope))


def _check_database(conn: psycopg.Connection) -> bool:
    require_tables(conn, DAWSOS_TABLES)
    require_standard_names(conn)
    return True


def _portfolio_currencies(conn: psycopg.Connection) -> dict[str, str]:
    return {str(pid): currency for pid, currency in conn.execute("SELECT id, base_currency FROM portfolios")}


def validate_inputs(conn: psycopg.Connection, pattern: Pattern, inputs: dict, memo: BatchMemo | None = None) -> dict:
    """Apply defaults and check every value against its declared type and range; a portfolio must exist."""
    unknown = sorted(set(inputs) - set(pattern.inputs))
    if unknown:
        raise DawsosError(
            errors.PATTERN_EXECUTION_FAILED,
            f"{pattern.id} has no input(s) {errors.shown(unknown)}",
            f"inputs are: {', '.join(pattern.inputs)}",
        )
    resolved = {}
    for name, spec in pattern.inputs.items():
        value = inputs.get(name)
        if value is None:  # an explicit null means "not given", as it did in DawsOS
            value = spec.get("default")
        if value is None and spec.get("required"):
            raise DawsosError(
                errors.PATTERN_EXECUTION_FAILED, f"{pattern.id}: input '{name}' is required", f"pass --input {name}=…"
            )
        problem = input_problem(spec, value)
        if problem:
            code = errors.INVALID_PORTFOLIO_ID if name == "portfolio_id" else errors.PATTERN_INPUT_INVALID
            raise DawsosError(
                code,
                f"{pattern.id}: input '{name}' {problem}, not {errors.shown(value)}",
                f"pass --input {name}=<value> as declared in {pattern.path.name}",
            )
        resolved[name] = str(uuid.UUID(value)) if value is not None and spec["type"] == "uuid" else value
    memo = memo or BatchMemo()
    memo.get(("database checked",), lambda: _check_database(conn))
    if resolved.get("portfolio_id"):
        if resolved["portfolio_id"] not in memo.get(("portfolios",), lambda: _portfolio_currencies(conn)):
            raise DawsosError(
                errors.PORTFOLIO_NOT_FOUND,
                f"no portfolio {resolved['portfolio_id']}",
                "list portfolios with: SELECT id, name FROM portfolios",
            )
    return resolved


def _latest_pack(conn: psycopg.Connection) -> tuple:
    pack = conn.execute(
        "SELECT id, asof_date FROM pricing_packs WHERE superseded_by IS NULL ORDER BY asof_date DESC, id DESC LIMIT 1"
    ).fetchone()
    if not pack:
        raise DawsosError(
            errors.PRICING_PACK_NOT_FOUND,
            "the database has no pricing pack",
            "seed the database (dawsos seed) or build a pack first",
        )
    return pack


def request_context(
    conn: psycopg.Connection, portfolio_id: str | None, memo: BatchMemo | None = None
) -> RequestContext:
    """The latest non-superseded pricing pack, and the portfolio's base currency."""
    memo = memo or BatchMemo()
    pack_id, asof_date = memo.get(("pricing pack",), lambda: _latest_pack(conn))
    base = memo.get(("portfolios",), lambda: _portfolio_currencies(conn))[portfolio_id] if portfolio_id else "USD"
    return RequestContext(pack_id, asof_date, portfolio_id, base, uuid.uuid4().hex, memo)


class PatternEngine:
    """Runs patterns step by step with the capabilities of a registry."""

    def __init__(self, registry: CapabilityRegistry):
        self.registry = registry

    @staticmethod
    def own_reads(pattern: Pattern) -> set[str]:
        """What the engine itself queries: the latest pricing pack, and the portfolio when the pattern takes one."""
        return {"pricing_packs", *(("portfolios",) if "portfolio_id" in pattern.inputs else ())}

    def reads(self, pattern: Pattern) -> list[str]:
        """The DawsOS tables a run of `pattern` may query: the engine's own and those of every capability it may
        run (a step skipped by its condition reads nothing on that run).
        """
        capabilities = [
            self.registry.resolve(s["capability"]) for s in pattern.steps if self.registry.knows(s["capability"])
        ]
        return sorted(self.own_reads(pattern).union(*(c.reads for c in capabilities)))

    def refused(self, pattern: Pattern) -> list[str]:
        """The pattern's capabilities that no agent registers: the engine refuses to run it while any is left."""
        return [step["capability"] for step in pattern.steps if not self.registry.knows(step["capability"])]

    def run(
        self, conn: psycopg.Connection, pattern: Pattern, inputs: dict, memo: BatchMemo | None = None
    ) -> PatternResult:
        """Run the pattern's steps; runs sharing a `memo` (a batch) read the reference data once."""
        started = time.perf_counter()
        for step in pattern.steps:  # every capability must resolve before anything runs
            self.registry.resolve(step["capability"], pattern.id, step["as"])
        memo = memo or BatchMemo()
        resolved_inputs = validate_inputs(conn, pattern, inputs, memo)
        context = request_context(conn, resolved_inputs.get("portfolio_id"), memo)
        scope = {"inputs": resolved_inputs, "ctx": context.as_dict()}
        trace = []
        for number, step in enumerate(pattern.steps, 1):
            name, target = step["as"], self.registry.resolve(step["capability"], pattern.id, step["as"])
            began = time.perf_counter()
            if not condition_holds(step.get("condition"), scope):
                scope[name] = None
                trace.append(StepTrace(name, step["capability"], target.name, 0.0, skipped=True))
                continue
            arguments = resolve(step["args"], scope)
            warnings: list[str] = []
            try:
                scope[name] = target.function(conn, context, warnings, **arguments)
            except DawsosError:
                raise
            except Exception as exc:  # fail fast: the pattern stops at its first failing step
                raise DawsosError(
                    errors.PATTERN_EXECUTION_FAILED,
                    f"{pattern.id} step #{number} '{name}' ({step['capability']}) failed: {type(exc).__name__}: {exc}",
                    "see the trace; the database may lack the data this step needs",
                ) from exc
            trace.append(
                StepTrace(
                    name, step["capability"], target.name, (time.perf_counter() - began) * 1000, warnings=warnings
                )
            )
        data = {key: scope.get(key) for key in pattern.outputs}
        return PatternResult(pattern.id, data, trace, context, (time.perf_counter() - started) * 1000)
