"""`dawsos seed`: create a legacy DawsOS database in one of its real states and fill it with consistent demo data
and the defects that state allows.

The demo data goes on top of whatever DawsOS schema is there, adapting to it: tables the state lacks are left out,
lot columns go under the names the table has (qty_* or quantity_*), rows that already exist (the team's own
seed, a pricing pack, a user) are kept as they are, and a defect is injected only where no key forbids it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import psycopg
from psycopg import sql

from dawsos_assets import errors
from dawsos_assets.database.inspect import Shape
from dawsos_assets.database.legacy import STATES, LegacyVariant, apply_history, create_legacy_schema
from dawsos_assets.database.seed import context
from dawsos_assets.database.seed import reference as ref
from dawsos_assets.database.seed.books import (
    Book,
    Lot,
    Transaction,
    alpha_book,
    demo_book,
    generated_book,
    generated_portfolio,
    value_book,
)
from dawsos_assets.database.seed.defects import (
    DEFECT_QUERIES,
    LEGAL_QUERIES,
    DefectLedger,
    applicable,
    defect_query,
    inject_lot_flag_defects,
    orphan_beta_rows,
    orphan_rows,
)
from dawsos_assets.database.seed.market import (
    Market,
    build_market,
    fx_rows,
    price_rows,
    pricing_pack_rows,
    securities_rows,
)
from dawsos_assets.errors import DawsosError

META_SCHEMA = "dawsos_meta"
# Schemas this project creates; `seed --fresh` drops them together with the legacy tables in `public`.
PROJECT_SCHEMAS = [META_SCHEMA, "quarantine", "dawsos_legacy", "dawsos_migrations", "analytics"]
MAX_LOTS = 10_000_000
BOOK_PORTFOLIOS = 6
LOTS_PER_BULK_PORTFOLIO = 10_000
PROVIDER_TABLES = ("fundamentals", "news_items", "corporate_actions")
MAX_PORTFOLIOS = 10_000  # unbounded, a typo ran until killed while holding the seed's locks
MAX_SEED = (
    2**32 - 1
)  # numpy refuses negative seeds; one 32-bit range is plenty and fits every JSON reader of the manifest


@dataclass
class SeedOptions:
    """What `dawsos seed` builds: the random seed, scale and legacy variant."""

    seed: int = 42
    lots: int | None = None
    portfolios: int | None = None
    fresh: bool = False
    variant: LegacyVariant = field(default_factory=LegacyVariant)
    progress: bool = True

    def generated_portfolios(self) -> int:
        """How many generated portfolios to add besides the demo and Alpha portfolios."""
        if self.portfolios is not None:
            return self.portfolios
        if self.lots:
            return max(BOOK_PORTFOLIOS, self.lots // LOTS_PER_BULK_PORTFOLIO)
        return BOOK_PORTFOLIOS

    def validate(self) -> None:
        """Refuse options outside their limits with a one-line error."""
        if not 0 <= self.seed <= MAX_SEED:
            raise DawsosError(
                errors.SEED_ARGUMENT_INVALID,
                f"--seed {self.seed} is outside 0..{MAX_SEED}",
                "pass a non-negative seed below 2**32, e.g. --seed 42",
            )
        if self.lots is not None and not 1 <= self.lots <= MAX_LOTS:
            raise DawsosError(
                errors.SEED_ARGUMENT_INVALID,
                f"--lots {self.lots} is outside 1..{MAX_LOTS:,}",
                "pass a lot count between 1 and 10000000",
            )
        if self.portfolios is not None and not 1 <= self.portfolios <= MAX_PORTFOLIOS:
            raise DawsosError(
                errors.SEED_ARGUMENT_INVALID,
                f"--portfolios {self.portfolios} is outside 1..{MAX_PORTFOLIOS:,}",
                "defects are injected into generated portfolios; pass --portfolios between 1 and 10000",
            )
        variant = self.variant
        if variant.state not in STATES:
            raise DawsosError(
                errors.SEED_ARGUMENT_INVALID,
                f"--state {variant.state} is not a known state",
                f"choose one of {', '.join(STATES)}",
            )
        if variant.state != "plan" and variant != LegacyVariant(state=variant.state):
            raise DawsosError(
                errors.SEED_ARGUMENT_INVALID,
                f"--state {variant.state} follows the team's own history, which had migration 007 and "
                "replaced or dropped the tables whose forms --betas, --shocks and --audit-log choose",
                "drop those options, or use --state plan",
            )


# -- database state -----------------------------------------------------------------------------------------------
def database_state(conn: psycopg.Connection) -> str:
    """'empty', 'seeded' (holds our manifest) or 'foreign' (holds tables we did not create)."""
    has_manifest = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{META_SCHEMA}.seed_manifest",)).fetchone()[0]
    if has_manifest:
        return "seeded"
    tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
    return "foreign" if tables else "empty"


def read_manifest(conn: psycopg.Connection) -> dict:
    """The manifest the seed wrote (what was built and the defects planted)."""
    if database_state(conn) != "seeded":
        raise DawsosError(
            errors.DB_NOT_SEEDED, "the database has no DawsOS demo data", "run `dawsos seed` (or `make demo`) first"
        )
    return conn.execute(f"SELECT manifest FROM {META_SCHEMA}.seed_manifest").fetchone()[0]  # noqa: S608 — META_SCHEMA is a module constant


def _prepare_target(conn: psycopg.Connection, fresh: bool) -> None:
    state = database_state(conn)
    if state == "seeded" and not fresh:
        raise DawsosError(
            errors.DB_ALREADY_SEEDED,
            "the database is already seeded",
            "run `dawsos seed --fresh` to drop it and seed again, or keep using it",
        )
    if state == "foreign":
        raise DawsosError(
            errors.DB_ALREADY_SEEDED,
            "the database holds tables that `dawsos seed` did not create; refusing to touch them",
            "point DAWSOS_DATABASE_URL at an empty database",
        )
    if state == "seeded":
        for schema in PROJECT_SCHEMAS:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


# -- writing on top of whatever is there -----------------------------------------------------------------------
class Writer:
    """Rows into the tables the database has, under the names it uses; existing rows are kept as they are."""

    def __init__(self, conn: psycopg.Connection, shape: Shape):
        from dawsos_assets.tables.standards import RENAMES

        self.conn, self.shape = conn, shape
        self.standard = {(r.table, r.legacy): r.standard for r in RENAMES}
        self.skipped: list[str] = []

    def _name(self, table: str, column: str) -> str | None:
        present = self.shape.columns[table]
        if column in present:
            return column
        standard = self.standard.get((table, column))
        return standard if standard in present else None

    def rows(self, table: str, columns: list[str], rows) -> int:
        """Insert rows into `table` under whatever names its columns have; returns the rows written (0 when absent)."""
        if not self.shape.has(table):
            self.skipped.append(table)
            return 0
        names = [self._name(table, c) for c in columns]
        keep = [i for i, n in enumerate(names) if n]
        target = [sql.Identifier(names[i]) for i in keep]
        stage = sql.Identifier(f"_seed_{table}")
        self.conn.execute(
            sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(
                stage, sql.Identifier("public", table)
            )
        )
        with self.conn.cursor().copy(
            sql.SQL("COPY {} ({}) FROM STDIN").format(stage, sql.SQL(", ").join(target))
        ) as copy:
            for row in rows:
                copy.write_row([row[i] for i in keep])
        inserted = self.conn.execute(
            sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING").format(
                sql.Identifier("public", table), sql.SQL(", ").join(target), sql.SQL(", ").join(target), stage
            )
        ).rowcount
        self.conn.execute(sql.SQL("DROP TABLE {}").format(stage))
        return inserted


LOT_COLUMNS = [
    "id",
    "portfolio_id",
    "security_id",
    "symbol",
    "acquisition_date",
    "quantity",
    "cost_basis",
    "cost_basis_per_share",
    "currency",
    "is_open",
]
LOT_007_COLUMNS = ["qty_original", "qty_open", "closed_date"]
TRANSACTION_COLUMNS = [
    "id",
    "portfolio_id",
    "transaction_type",
    "security_id",
    "symbol",
    "transaction_date",
    "settlement_date",
    "quantity",
    "price",
    "amount",
    "currency",
    "fee",
    "lot_id",
    "narration",
    "source",
]


def lot_columns(shape: Shape) -> list[str]:
    """The lot columns the bulk loader writes, under the table's own names."""
    if not shape.lots_007:
        return LOT_COLUMNS
    return LOT_COLUMNS + [shape.original_column, shape.open_column, "closed_date"]


def lot_row(lot: Lot) -> tuple:
    """A lot as a row of the legacy lots table."""
    return (
        lot.id,
        lot.portfolio_id,
        lot.security_id,
        lot.symbol,
        lot.acquisition_date,
        lot.quantity,
        lot.cost_basis,
        lot.cost_basis_per_share,
        lot.currency,
        lot.is_open,
        lot.qty_original,
        lot.qty_open,
        lot.closed_date,
    )


def transaction_row(txn: Transaction) -> tuple:
    """A transaction as a row of the legacy transactions table."""
    return (
        txn.id,
        txn.portfolio_id,
        txn.transaction_type,
        txn.security_id,
        txn.symbol,
        txn.transaction_date,
        txn.transaction_date + timedelta(days=txn.settlement_days),
        txn.quantity,
        txn.price,
        txn.amount,
        txn.currency,
        txn.fee,
        txn.lot_id,
        txn.narration,
        "manual",
    )


def _write_reference(w: Writer, market, rng, books: list[Book]) -> None:
    w.rows(
        "users",
        ["id", "email", "password_hash", "role"],
        [(uid, email, "$2b$12$seeded.bcrypt.hash.placeholder", role) for uid, email, role in ref.USERS],
    )
    w.rows(
        "securities",
        [
            "id",
            "symbol",
            "name",
            "security_type",
            "exchange",
            "trading_currency",
            "dividend_currency",
            "domicile_country",
            "sector",
        ],
        securities_rows(market),
    )
    w.rows(
        "pricing_packs",
        [
            "id",
            "date",
            "policy",
            "hash",
            "sources_json",
            "status",
            "is_fresh",
            "prewarm_done",
            "reconciliation_passed",
            "reconciliation_failed",
        ],
        pricing_pack_rows(market),
    )
    w.rows(
        "prices",
        [
            "id",
            "security_id",
            "pricing_pack_id",
            "asof_date",
            "close",
            "open",
            "high",
            "low",
            "volume",
            "currency",
            "source",
        ],
        price_rows(market, rng),
    )
    w.rows(
        "fx_rates",
        ["id", "pricing_pack_id", "base_ccy", "quote_ccy", "asof_ts", "rate", "source", "policy"],
        fx_rows(market),
    )
    w.rows(
        "portfolios",
        ["id", "user_id", "name", "description", "base_currency", "benchmark_id"],
        [
            (
                b.portfolio.id,
                b.portfolio.user_id,
                b.portfolio.name,
                b.portfolio.description,
                b.portfolio.base_currency,
                b.portfolio.benchmark_id,
            )
            for b in books
        ],
    )


def _write_context(w: Writer, market, rng, books: list[Book], extra_betas: list[tuple]) -> None:
    shape = w.shape
    w.rows(
        "macro_indicators",
        ["id", "indicator_id", "indicator_name", "date", "value", "units", "frequency", "source"],
        context.macro_indicator_rows(rng),
    )
    w.rows(
        "regime_history",
        ["id", "date", "regime", "confidence", "indicators_json", "zscores_json", "regime_scores_json"],
        context.regime_rows(rng),
    )
    w.rows(
        "cycle_phases",
        ["id", "cycle_type", "date", "phase", "phase_number", "composite_score", "indicators_json"],
        context.cycle_phase_rows(rng),
    )
    if shape.betas == "long":
        w.rows(
            "position_factor_betas",
            ["portfolio_id", "security_id", "factor_name", "beta"],
            context.beta_rows(rng, market, books, shape) + extra_betas,
        )
    elif shape.betas == "wide":
        w.rows(
            "position_factor_betas",
            [
                "id",
                "portfolio_id",
                "security_id",
                "symbol",
                "asof_date",
                "real_rate_beta",
                "inflation_beta",
                "credit_beta",
                "usd_beta",
                "equity_beta",
                "commodity_beta",
                "volatility_beta",
                "methodology",
                "r_squared",
            ],
            context.beta_rows(rng, market, books, shape) + extra_betas,
        )
    if shape.shocks == "flat":
        w.rows(
            "scenario_shocks",
            [
                "id",
                "shock_type",
                "shock_name",
                "shock_description",
                "real_rates_bps",
                "inflation_bps",
                "credit_spread_bps",
                "usd_pct",
                "equity_pct",
                "commodity_pct",
                "volatility_pct",
            ],
            context.scenario_rows(shape),
        )
    elif shape.shocks == "jsonb":
        w.rows("scenario_shocks", ["scenario_id", "scenario_name", "shock_definition"], context.scenario_rows(shape))
    w.rows(
        "rating_rubrics",
        ["id", "rating_type", "method_version", "overall_weights", "component_thresholds", "description"],
        context.rubric_rows(),
    )
    w.rows(
        "portfolio_metrics",
        [
            "portfolio_id",
            "asof_date",
            "pricing_pack_id",
            "twr_1d",
            "twr_1y",
            "volatility_1y",
            "sharpe_1y",
            "max_drawdown_1y",
            "portfolio_value_base",
            "base_currency",
            "benchmark_id",
        ],
        context.metrics_rows(market, books),
    )
    if shape.audit_log == "a":
        w.rows("audit_log", ["id", "event_type", "user_id", "details"], context.audit_rows(shape))
    elif shape.audit_log == "b":
        w.rows(
            "audit_log",
            ["id", "user_id", "action", "resource_type", "resource_id", "details"],
            context.audit_rows(shape),
        )


def _write_books(w: Writer, books: list[Book], orphan_lots, orphan_transactions) -> None:
    w.rows(
        "lots",
        LOT_COLUMNS + LOT_007_COLUMNS,
        [lot_row(lot) for book in books for lot in book.lots] + [lot_row(lot) for lot in orphan_lots],
    )
    w.rows(
        "transactions",
        TRANSACTION_COLUMNS,
        [transaction_row(t) for book in books for t in book.transactions]
        + [transaction_row(t) for t in orphan_transactions],
    )
    w.rows(
        "portfolio_daily_values",
        ["portfolio_id", "valuation_date", "total_value", "cash_balance", "positions_value", "cash_flows", "currency"],
        [row for book in books for row in book.daily_values],
    )
    w.rows(
        "portfolio_cash_flows",
        ["id", "portfolio_id", "flow_date", "flow_type", "amount", "currency", "transaction_id", "description"],
        [row for book in books for row in book.cash_flows],
    )


# -- adopting rows the database already has -------------------------------------------------------------------
def adopt_existing_securities(conn: psycopg.Connection, market: Market) -> None:
    """Securities the database already lists (the team's seed inserts them with random ids) keep their ids."""
    existing = dict(conn.execute("SELECT symbol, id::text FROM securities").fetchall())
    market.adopt_ids({s.id: existing[s.symbol] for s in market.securities if existing.get(s.symbol, s.id) != s.id})


def adopt_existing_book(conn: psycopg.Connection, book: Book) -> None:
    """A portfolio the database already holds (the team's own seed_portfolio_data.sql) keeps its lots and
    transactions: the book's equal rows take their ids, so the daily values and cash flows point at them.
    """
    lots = {
        (sym, day, round(float(cost), 2)): lid
        for lid, sym, day, cost in conn.execute(
            "SELECT id::text, symbol, acquisition_date, cost_basis FROM lots WHERE portfolio_id = %s",
            (book.portfolio.id,),
        )
    }
    renamed = {}
    for lot in book.lots:
        existing = lots.get((lot.symbol, lot.acquisition_date, round(lot.cost_basis, 2)))
        if existing:
            renamed[lot.id], lot.id = existing, existing
    txns = {
        (kind, sym, day, round(float(amount), 2)): tid
        for tid, kind, sym, day, amount in conn.execute(
            "SELECT id::text, transaction_type, symbol, transaction_date, amount "
            "FROM transactions WHERE portfolio_id = %s",
            (book.portfolio.id,),
        )
    }
    for txn in book.transactions:
        txn.lot_id = renamed.get(txn.lot_id, txn.lot_id)
        txn.id = txns.get((txn.transaction_type, txn.symbol, txn.transaction_date, round(txn.amount, 2)), txn.id)


def _count(conn: psycopg.Connection, query: str) -> int:
    return conn.execute(query).fetchone()[0]


def _count_rows(conn) -> dict[str, int]:
    tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
    return {t: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()[0] for t in tables}


def _write_manifest(
    conn,
    options: SeedOptions,
    shape: Shape,
    ledger: DefectLedger,
    found_before: dict,
    books: list[Book],
    bulk: dict,
    history: list[str],
    skipped: list[str],
) -> dict:
    legal = {
        key: {"description": d, "count": conn.execute(q).fetchone()[0], "query": q}
        for key, (d, q) in LEGAL_QUERIES.items()
    }
    manifest = {
        "seed": options.seed,
        "as_of": ref.LEGACY_AS_OF.isoformat(),
        "variant": options.variant.as_dict(),
        "shape": shape.describe(),
        "options": {"lots": options.lots, "portfolios": options.generated_portfolios()},
        "portfolios": {
            "demo": ref.DEMO_PORTFOLIO_ID,
            "test_portfolio_alpha": ref.ALPHA_PORTFOLIO_ID,
            "generated": [b.portfolio.id for b in books[2:]],
        },
        "bulk_load": bulk,
        "defects": ledger.as_manifest(shape, found_before),
        "legal": legal,
        "history_failures": history,
        "tables_absent_in_this_state": sorted(set(skipped)),
        "row_counts": _count_rows(conn),
    }
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {META_SCHEMA}")
    conn.execute(
        f"CREATE TABLE {META_SCHEMA}.seed_manifest (id INT PRIMARY KEY DEFAULT 1 CHECK (id = 1), "
        "seeded_at TIMESTAMPTZ NOT NULL DEFAULT NOW(), manifest JSONB NOT NULL)"
    )
    conn.execute(f"INSERT INTO {META_SCHEMA}.seed_manifest (manifest) VALUES (%s)", (json.dumps(manifest),))  # noqa: S608 — META_SCHEMA is a module constant
    return manifest


def demo_world(conn: psycopg.Connection, seed: int, generated: int) -> tuple[np.random.Generator, Market, list[Book]]:
    """The market and the books of a seed, with the ids the database already uses for the same things."""
    rng = np.random.default_rng(seed)
    market = build_market(rng)
    adopt_existing_securities(conn, market)
    books = [demo_book(market), alpha_book(market)] + [
        generated_book(rng, market, i) for i in range(min(generated, BOOK_PORTFOLIOS))
    ]
    existing = {pid for (pid,) in conn.execute("SELECT id::text FROM portfolios")}
    for book in books:
        if book.portfolio.id in existing:
            adopt_existing_book(conn, book)
        value_book(market, book)
    return rng, market, books


def load_demo_data(conn: psycopg.Connection, options: SeedOptions, history: list[str] | None = None) -> dict:
    """Fill whatever DawsOS schema the database has with the demo data and the defects it allows; return the
    manifest (defects injected plus those the database already held, each with the query that counts it).
    """
    shape = Shape.read(conn)
    found_before = {key: _count(conn, defect_query(key, shape)) for key in DEFECT_QUERIES if applicable(key, shape)}
    n_generated = options.generated_portfolios()
    rng, market, books = demo_world(conn, options.seed, n_generated)
    ledger = DefectLedger()
    generated = books[2:]
    inject_lot_flag_defects(rng, generated, ledger, shape)
    orphan_lots, orphan_transactions = orphan_rows(generated, ledger)
    if not applicable("orphaned_lots", shape):
        orphan_lots = []
        for txn in orphan_transactions:
            txn.lot_id = None
    if not applicable("orphaned_transactions", shape):
        orphan_transactions = []
    cnr = next(s.id for s in market.securities if s.symbol == "CNR")
    extra_betas = orphan_beta_rows(generated, ledger, shape, cnr) if shape.betas in ("long", "wide") else []
    bulk_portfolios = [generated_portfolio(i) for i in range(len(generated), n_generated)]
    writer = Writer(conn, shape)
    _write_reference(writer, market, rng, books + [Book(p) for p in bulk_portfolios])
    _write_books(writer, books, orphan_lots, orphan_transactions)
    _write_context(writer, market, rng, books, extra_betas)
    bulk = {"lots": 0}
    existing = sum(len(b.lots) for b in books) + len(orphan_lots)
    if options.lots and options.lots > existing:
        from dawsos_assets.database.seed.bulk import load_bulk_lots

        targets = [p.id for p in bulk_portfolios] or [b.portfolio.id for b in generated]
        bulk = load_bulk_lots(
            conn, market, targets, options.lots - existing, options.seed, ledger, shape, progress=options.progress
        )
    return _write_manifest(conn, options, shape, ledger, found_before, books, bulk, history or [], writer.skipped)


def seed_database(conn: psycopg.Connection, options: SeedOptions) -> dict:
    """Create the legacy database in the chosen state and fill it, in one transaction; return the manifest."""
    options.validate()
    with conn.transaction():
        _prepare_target(conn, options.fresh)
        create_legacy_schema(conn, options.variant)
        history = apply_history(conn, options.variant.state)
        return load_demo_data(conn, options, history)


def load_provider_data(conn: psycopg.Connection) -> dict[str, int]:
    """What DawsOS's providers (FMP, news feeds) delivered at run time, for the demo: fundamentals, news and upcoming
    corporate actions, into the standard tables migration 019 creates. Deterministic per seed.
    """
    manifest = read_manifest(conn)
    missing = [t for t in PROVIDER_TABLES if not Shape.read(conn).has(t)]
    if missing:
        raise DawsosError(
            errors.DB_NOT_MIGRATED,
            f"the tables {', '.join(missing)} do not exist yet",
            "run `dawsos migrate apply` first: migration 019 creates them",
        )
    _rng, market, books = demo_world(conn, manifest["seed"], manifest["options"]["portfolios"])
    rng = np.random.default_rng([manifest["seed"], 2])
    writer = Writer(conn, Shape.read(conn))
    with conn.transaction():
        return {
            "fundamentals": writer.rows(
                "fundamentals",
                [
                    "security_id",
                    "asof_date",
                    "market_cap",
                    "pe_ratio",
                    "dividend_yield",
                    "roe",
                    "roe_5y_avg",
                    "gross_margin_5y_avg",
                    "operating_margin",
                    "operating_margin_std_dev",
                    "fcf_to_revenue",
                    "revenue_growth_cv",
                    "intangible_assets_ratio",
                    "switching_cost_score",
                    "payout_ratio_5y_avg",
                    "fcf_dividend_coverage",
                    "dividend_growth_streak_years",
                    "net_cash_position",
                    "debt_equity_ratio",
                    "interest_coverage",
                    "current_ratio",
                    "cash_pct_assets",
                ],
                context.fundamentals_rows(rng, market),
            ),
            "news_items": writer.rows(
                "news_items",
                ["id", "published_at", "headline", "source", "summary", "symbols", "sentiment", "impact_score"],
                context.news_rows(rng, books),
            ),
            "corporate_actions": writer.rows(
                "corporate_actions",
                ["id", "security_id", "symbol", "action_type", "action_date", "amount", "split_ratio", "currency"],
                context.corporate_action_rows(rng, market, books),
            ),
        }


def defect_counts_in_database(conn: psycopg.Connection) -> dict[str, int]:
    """Count each defect with its own predicate on the database as it is: the ground truth the manifest must match."""
    shape = Shape.read(conn)
    return {key: _count(conn, defect_query(key, shape)) if applicable(key, shape) else 0 for key in DEFECT_QUERIES}
