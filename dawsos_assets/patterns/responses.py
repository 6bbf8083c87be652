"""Response contracts of pattern outputs: the tabular parts validated with pandera (small frames, in pandas),
and no legacy field name anywhere in an output."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from dawsos_assets.patterns.loader import LEGACY_FIELD_NAMES

WEIGHT_TOLERANCE = 1e-9


class ValuedPosition(pa.DataFrameModel):
    symbol: Series[str]
    quantity: Series[float] = pa.Field(gt=0)
    market_value: Series[float] = pa.Field(ge=0, nullable=True)
    weight: Series[float] = pa.Field(in_range={"min_value": 0, "max_value": 1}, nullable=True)


# pattern -> (output key, path to a list of position-like rows) that must satisfy ValuedPosition
POSITION_TABLES = {"portfolio_overview": ["valued_positions", "positions"]}


def _keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def response_failures(pattern: str, data: dict) -> list[str]:
    failures = [f"legacy field name '{k}' in the output" for k in sorted(_keys(data) & LEGACY_FIELD_NAMES)]
    path = POSITION_TABLES.get(pattern)
    if path:
        rows = data
        for part in path:
            rows = rows.get(part) if isinstance(rows, dict) else None
        frame = pd.DataFrame(rows or [], columns=["symbol", "quantity", "market_value", "weight"])
        try:
            ValuedPosition.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as err:
            failures += [f"{r.column}: {r.check} failed for {r.failure_case}" for r in err.failure_cases.itertuples()]
        weights = frame["weight"].dropna()
        if len(weights) and abs(weights.sum() - 1) > WEIGHT_TOLERANCE:
            failures.append(f"weights sum to {weights.sum():.12f}, not 1")
    return failures
