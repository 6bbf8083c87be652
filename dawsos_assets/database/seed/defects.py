"""The plan's data defects, injected on purpose into generated portfolios and listed in a manifest.

The demo portfolio and Test Portfolio Alpha are never touched, so the plan's validation query stays exact.
Each defect has the SQL predicate that finds it in the legacy database; tests check the counts agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dawsos_assets.database.inspect import Shape
from dawsos_assets.database.seed import reference as ref
from dawsos_assets.database.seed.books import Book, Lot, Transaction

MANIFEST_ID_LIMIT = 50

# defect key -> (description, SQL counting it; {open} and {original} are the lot-tracking columns' current names)
DEFECT_QUERIES = {
    "orphaned_lots": (
        "lots whose security_id matches no security",
        "SELECT count(*) FROM lots l WHERE NOT EXISTS (SELECT 1 FROM securities s WHERE s.id = l.security_id)",
    ),
    "orphaned_transactions": (
        "transactions whose non-NULL security_id matches no security",
        "SELECT count(*) FROM transactions t WHERE t.security_id IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM securities s WHERE s.id = t.security_id)",
    ),
    "orphaned_betas_security": (
        "position_factor_betas rows whose security_id matches no security",
        "SELECT count(*) FROM position_factor_betas b WHERE NOT EXISTS "
        "(SELECT 1 FROM securities s WHERE s.id = b.security_id)",
    ),
    "orphaned_betas_portfolio": (
        "position_factor_betas rows whose portfolio_id matches no portfolio",
        "SELECT count(*) FROM position_factor_betas b WHERE NOT EXISTS "
        "(SELECT 1 FROM portfolios p WHERE p.id = b.portfolio_id)",
    ),
    "open_lots_with_zero_qty_open": (
        "lots flagged is_open whose open quantity is 0",
        "SELECT count(*) FROM lots WHERE is_open AND {open} = 0",
    ),
    "closed_lots_with_positive_qty_open": (
        "lots flagged closed whose open quantity is above 0",
        "SELECT count(*) FROM lots WHERE NOT is_open AND {open} > 0",
    ),
    "quantity_differs_from_qty_original": (
        "lots whose legacy quantity differs from the original quantity",
        "SELECT count(*) FROM lots WHERE quantity <> {original}",
    ),
}
LEGAL_QUERIES = {
    "fee_transactions_without_security": (
        "FEE transactions with NULL security_id (legal)",
        "SELECT count(*) FROM transactions WHERE transaction_type = 'FEE' AND security_id IS NULL",
    ),
}


def applicable(key: str, shape: Shape) -> bool:
    """Whether a defect can exist in a database of this shape: no foreign key forbids it, its table and columns
    exist (007's columns; betas the team dropped on 2025-11-04).
    """
    if key == "orphaned_lots":
        return not shape.has_key("lots", "security_id")
    if key == "orphaned_transactions":
        return not shape.has_key("transactions", "security_id")
    if key.startswith("orphaned_betas"):
        column = "security_id" if key.endswith("security") else "portfolio_id"
        return shape.betas in ("long", "wide") and not shape.has_key("position_factor_betas", column)
    return shape.lots_007


def defect_query(key: str, shape: Shape) -> str:
    """The query that finds the rows of defect `key`, with the database's lot column names."""
    return DEFECT_QUERIES[key][1].format(open=shape.open_column, original=shape.original_column)


@dataclass
class DefectLedger:
    """The planted defects: how many of each kind and the ids of the first ones."""

    ids: dict[str, list[str]] = field(default_factory=lambda: {key: [] for key in DEFECT_QUERIES})
    counts: dict[str, int] = field(default_factory=lambda: {key: 0 for key in DEFECT_QUERIES})

    def record(self, key: str, row_id: str) -> None:
        """Count one planted defect and keep its row id while the manifest has room."""
        self.counts[key] += 1
        if len(self.ids[key]) < MANIFEST_ID_LIMIT:
            self.ids[key].append(row_id)

    def as_manifest(self, shape: Shape, found_before: dict[str, int]) -> dict:
        """Per defect: rows the seed injected plus rows the database already held (the team's own data)."""
        out = {}
        for key, (description, _query) in DEFECT_QUERIES.items():
            possible = applicable(key, shape)
            injected = self.counts[key] if possible else 0
            out[key] = {
                "description": description,
                "count": injected + found_before.get(key, 0),
                "injected": injected,
                "found_before_seeding": found_before.get(key, 0),
                "applicable": possible,
                "sample_ids": self.ids[key],
                "query": defect_query(key, shape) if possible else None,
            }
        return out


def _pick(rng: np.random.Generator, candidates: list, count: int) -> list:
    if not candidates:
        return []
    chosen = rng.choice(len(candidates), size=min(count, len(candidates)), replace=False)
    return [candidates[int(i)] for i in sorted(chosen)]


def inject_lot_flag_defects(rng: np.random.Generator, books: list[Book], ledger: DefectLedger, shape: Shape) -> None:
    """The three quantity/flag conflicts of the legacy lots (three writers disagree), on disjoint sets of lots."""
    if not shape.lots_007:
        return
    lots = [lot for book in books for lot in book.lots]
    closed = [lot for lot in lots if not lot.is_open]
    untouched_open = [lot for lot in lots if lot.is_open and lot.qty_open == lot.qty_original]
    partial = [lot for lot in lots if lot.is_open and 0 < lot.qty_open < lot.qty_original]
    for lot in _pick(rng, closed, 3):  # a full close where the writer forgot is_open
        lot.is_open, lot.closed_date = True, None
        ledger.record("open_lots_with_zero_qty_open", lot.id)
    for lot in _pick(rng, untouched_open, 4):  # closed by flag while shares remain
        lot.is_open, lot.closed_date = False, ref.LEGACY_AS_OF
        ledger.record("closed_lots_with_positive_qty_open", lot.id)
    for lot in _pick(rng, partial, 5):  # trade_execution.py writes quantity = qty_open on every sell
        lot.quantity = lot.qty_open
        ledger.record("quantity_differs_from_qty_original", lot.id)


def orphan_rows(books: list[Book], ledger: DefectLedger) -> tuple[list[Lot], list[Transaction]]:
    """Lots and transactions that point at securities deleted from the master (no FK stopped it)."""
    host, second = books[0].portfolio, books[min(1, len(books) - 1)].portfolio
    lots, transactions = [], []
    for i in range(4):
        security_id = ref.stable_id(f"security:delisted:{i}")
        lot = Lot(
            ref.stable_id(f"lot:orphan:{i}"),
            host.id,
            security_id,
            f"DLST{i}",
            ref.LEGACY_AS_OF.replace(month=3, day=3),
            100.0,
            100.0,
            1000.0,
            10.0,
            "USD",
        )
        lots.append(lot)
        ledger.record("orphaned_lots", lot.id)
        txn = Transaction(
            ref.stable_id(f"txn:orphan:buy:{i}"),
            host.id,
            "BUY",
            security_id,
            f"DLST{i}",
            lot.acquisition_date,
            100.0,
            10.0,
            -1000.0,
            "USD",
            0.0,
            lot.id,
            narration="delisted security",
        )
        transactions.append(txn)
        ledger.record("orphaned_transactions", txn.id)
    for i in range(3):
        txn = Transaction(
            ref.stable_id(f"txn:orphan:div:{i}"),
            second.id,
            "DIVIDEND",
            ref.stable_id(f"security:delisted:{i}"),
            f"DLST{i}",
            ref.LEGACY_AS_OF.replace(month=6, day=14),
            None,
            None,
            12.5,
            "USD",
            settlement_days=0,
            narration="dividend of a delisted security",
        )
        transactions.append(txn)
        ledger.record("orphaned_transactions", txn.id)
    return lots, transactions


def orphan_beta_rows(books: list[Book], ledger: DefectLedger, shape: Shape, cnr_id: str) -> list[tuple]:
    """Rows of position_factor_betas for delisted securities (orphans), recorded in the ledger."""
    host = books[0].portfolio.id
    rows = []
    for i in range(3):
        security_id = ref.stable_id(f"security:delisted:{i}")
        if shape.betas == "long":
            rows.append((host, security_id, "equity_market", 1.0))
        else:
            rows.append(
                (
                    ref.stable_id(f"pfb:orphan:{i}"),
                    host,
                    security_id,
                    f"DLST{i}",
                    ref.LEGACY_AS_OF,
                    0,
                    0,
                    0,
                    0,
                    1.0,
                    0,
                    0,
                    "stale",
                    0.1,
                )
            )
        ledger.record("orphaned_betas_security", f"{host}/{security_id}")
    if shape.betas == "long":
        for i in range(2):
            portfolio_id = ref.stable_id(f"portfolio:deleted:{i}")
            rows.append((portfolio_id, cnr_id, "equity_market", 0.9))
            ledger.record("orphaned_betas_portfolio", f"{portfolio_id}/{cnr_id}")
    return rows
