"""A portfolio's pattern result is the same computed alone (`dawsos patterns run`) and inside a batch of every
portfolio (the Dagster step's run_batch), whichever place it takes in the batch: the batch's shared lookups
(BatchMemo) must not leak one portfolio's data into another's nor be changed by a caller."""

import json

import pytest

from dawsos_assets.database import connection
from dawsos_assets.patterns.assets import run_batch
from dawsos_assets.patterns.engine import PatternEngine
from dawsos_assets.patterns.loader import load_all
from dawsos_assets.patterns.portfolios import portfolio_keys
from dawsos_assets.patterns.registry import default_registry

PATTERNS = load_all()


def _comparable(result) -> str:
    """The result's data and per-step warnings, without what differs per run (trace ids, timings)."""
    text = json.dumps(
        {"data": result.data, "warnings": result.warnings, "skipped": [t.skipped for t in result.trace]},
        default=str,
        sort_keys=True,
    )
    return text.replace(result.context.trace_id, "<trace>")


@pytest.fixture(scope="module")
def engine():
    return PatternEngine(default_registry())


@pytest.mark.parametrize("pattern_id", sorted(PATTERNS))
def test_a_portfolio_alone_and_in_a_batch_get_the_same_result(migrated_url, engine, pattern_id):
    pattern = PATTERNS[pattern_id]
    with connection.connect(migrated_url) as conn:
        keys = portfolio_keys(conn)
        inputs = (lambda pid: {"portfolio_id": pid}) if "portfolio_id" in pattern.inputs else (lambda pid: {})
        alone = {key: _comparable(engine.run(conn, pattern, inputs(pid))) for key, pid in keys.items()}
        forward = run_batch(conn, engine, pattern, keys, "batch-forward")
        backward = run_batch(conn, engine, pattern, dict(reversed(list(keys.items()))), "batch-backward")
    assert all(o.result is not None for o in forward.values()), {k: o.failures for k, o in forward.items()}
    for key in keys:
        assert _comparable(forward[key].result) == alone[key], f"{pattern_id} / {key}: first-to-last batch differs"
        assert _comparable(backward[key].result) == alone[key], f"{pattern_id} / {key}: last-to-first batch differs"
