"""`dawsos seed`: create the legacy DawsOS database and fill it with consistent demo data and known defects."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import psycopg

from dawsos_assets import errors
from dawsos_assets.database.legacy import LegacyVariant, create_legacy_schema
from dawsos_assets.database.seed import context, reference as ref
from dawsos_assets.database.seed.books import Book, Lot, Transaction, alpha_book, demo_book, generated_book, generated_portfolio, value_book
from dawsos_assets.database.seed.defects import (
    DEFECT_QUERIES,
    LEGAL_QUERIES,
    DefectLedger,
    applicable,
    inject_lot_flag_defects,
    orphan_beta_rows,
    orphan_rows,
)
from dawsos_assets.database.seed.market import build_market, fx_rows, price_rows, pricing_pack_rows, securities_rows
from dawsos_assets.errors import DawsosError

META_SCHEMA = "dawsos_meta"
# Schemas this project creates; `seed --fresh` drops them together with the legacy tables in `public`.
PROJECT_SCHEMAS = [META_SCHEMA, "quarantine", "dawsos_legacy", "dawsos_migrations", "analytics"]
MAX_LOTS = 10_000_000
BOOK_PORTFOLIOS = 6
LOTS_PER_BULK_PORTFOLIO = 10_000
MAX_PORTFOLIOS = 10_000  # unbounded, a typo ran until killed while holding the seed's locks
MAX_SEED = 2**32 - 1  # numpy refuses negative seeds; one 32-bit range is plenty and fits every JSON reader of the manifest


@dataclass
class SeedOptions:
    seed: int = 42
    lots: int | None = None
    portfolios: int | None = None
    fresh: bool = False
    variant: LegacyVariant = field(default_factory=LegacyVariant)
    progress: bool = True

    def generated_portfolios(self) -> int:
        if self.portfolios is not None:
            return self.portfolios
        if self.lots:
            return max(BOOK_PORTFOLIOS, self.lots // LOTS_PER_BULK_PORTFOLIO)
        return BOOK_PORTFOLIOS

    def validate(self) -> None:
        if not 0 <= self.seed <= MAX_SEED:
            raise DawsosError(errors.SEED_ARGUMENT_INVALID, f"--seed {self.seed} is outside 0..{MAX_SEED}",
                              "pass a non-negative seed below 2**32, e.g. --seed 42")
        if self.lots is not None and not 1 <= self.lots <= MAX_LOTS:
            raise DawsosError(errors.SEED_ARGUMENT_INVALID, f"--lots {self.lots} is outside 1..{MAX_LOTS:,}",
                              "pass a lot count between 1 and 10000000")
        if self.portfolios is not None and not 1 <= self.portfolios <= MAX_PORTFOLIOS:
            raise DawsosError(errors.SEED_ARGUMENT_INVALID, f"--portfolios {self.portfolios} is outside 1..{MAX_PORTFOLIOS:,}",
                              "defects are injected into generated portfolios; pass --portfolios between 1 and 10000")


# -- database state -----------------------------------------------------------------------------------------------
def database_state(conn: psycopg.Connection) -> str:
    """'empty', 'seeded' (holds our manifest) or 'foreign' (holds tables we did not create)."""
    has_manifest = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{META_SCHEMA}.seed_manifest",)).fetchone()[0]
    if has_manifest:
        return "seeded"
    tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
    return "foreign" if tables else "empty"


def read_manifest(conn: psycopg.Connection) -> dict:
    if database_state(conn) != "seeded":
        raise DawsosError(errors.DB_NOT_SEEDED, "the database has no DawsOS demo data",
                          "run `dawsos seed` (or `make demo`) first")
    return conn.execute(f"SELECT manifest FROM {META_SCHEMA}.seed_manifest").fetchone()[0]


def _prepare_target(conn: psycopg.Connection, fresh: bool) -> None:
    state = database_state(conn)
    if state == "seeded" and not fresh:
        raise DawsosError(errors.DB_ALREADY_SEEDED, "the database is already seeded",
                          "run `dawsos seed --fresh` to drop it and seed again, or keep using it")
    if state == "foreign":
        raise DawsosError(errors.DB_ALREADY_SEEDED, "the database holds tables that `dawsos seed` did not create; "
                          "refusing to touch them", "point DAWSOS_DATABASE_URL at an empty database")
    if state == "seeded":
        for schema in PROJECT_SCHEMAS:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


# -- writing ------------------------------------------------------------------------------------------------------
def copy_rows(conn: psycopg.Connection, table: str, columns: list[str], rows) -> int:
    count = 0
    with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


LOT_COLUMNS = ["id", "portfolio_id", "security_id", "symbol", "acquisition_date", "quantity", "cost_basis",
               "cost_basis_per_share", "currency", "is_open"]
LOT_007_COLUMNS = ["qty_original", "qty_open", "closed_date"]
TRANSACTION_COLUMNS = ["id", "portfolio_id", "transaction_type", "security_id", "symbol", "transaction_date",
                       "settlement_date", "quantity", "price", "amount", "currency", "fee", "lot_id", "narration", "source"]


def lot_columns(variant: LegacyVariant) -> list[str]:
    return LOT_COLUMNS + (LOT_007_COLUMNS if variant.lots_007 else [])


def lot_row(lot: Lot, variant: LegacyVariant) -> tuple:
    row = (lot.id, lot.portfolio_id, lot.security_id, lot.symbol, lot.acquisition_date, lot.quantity, lot.cost_basis,
           lot.cost_basis_per_share, lot.currency, lot.is_open)
    if variant.lots_007:
        return row + (lot.qty_original, lot.qty_open, lot.closed_date)
    # Before 007 a lot only knew its quantity and flag: closed lots keep their original size.
    return row


def transaction_row(txn: Transaction) -> tuple:
    return (txn.id, txn.portfolio_id, txn.transaction_type, txn.security_id, txn.symbol, txn.transaction_date,
            txn.transaction_date + timedelta(days=txn.settlement_days), txn.quantity, txn.price, txn.amount,
            txn.currency, txn.fee, txn.lot_id, txn.narration, "manual")


def _write_reference(conn, market, rng, books: list[Book], variant: LegacyVariant) -> None:
    copy_rows(conn, "users", ["id", "email", "password_hash", "role"],
              [(uid, email, "$2b$12$seeded.bcrypt.hash.placeholder", role) for uid, email, role in ref.USERS])
    copy_rows(conn, "securities", ["id", "symbol", "name", "security_type", "exchange", "trading_currency",
                                   "dividend_currency", "domicile_country", "sector"], securities_rows(market))
    copy_rows(conn, "pricing_packs", ["id", "date", "policy", "hash", "sources_json", "status", "is_fresh",
                                      "prewarm_done", "reconciliation_passed", "reconciliation_failed"], pricing_pack_rows(market))
    copy_rows(conn, "prices", ["id", "security_id", "pricing_pack_id", "asof_date", "close", "open", "high", "low",
                               "volume", "currency", "source"], price_rows(market, rng))
    copy_rows(conn, "fx_rates", ["id", "pricing_pack_id", "base_ccy", "quote_ccy", "asof_ts", "rate", "source", "policy"],
              fx_rows(market))
    copy_rows(conn, "portfolios", ["id", "user_id", "name", "description", "base_currency", "benchmark_id"],
              [(b.portfolio.id, b.portfolio.user_id, b.portfolio.name, b.portfolio.description, b.portfolio.base_currency,
                b.portfolio.benchmark_id) for b in books])


def _write_context(conn, market, rng, books: list[Book], variant: LegacyVariant, extra_betas: list[tuple]) -> None:
    copy_rows(conn, "macro_indicators", ["id", "indicator_id", "indicator_name", "date", "value", "units", "frequency",
                                         "source"], context.macro_indicator_rows(rng))
    copy_rows(conn, "regime_history", ["id", "date", "regime", "confidence", "indicators_json", "zscores_json",
                                       "regime_scores_json"], context.regime_rows(rng))
    copy_rows(conn, "cycle_phases", ["id", "cycle_type", "date", "phase", "phase_number", "composite_score",
                                     "indicators_json"], context.cycle_phase_rows(rng))
    betas = context.beta_rows(rng, market, books, variant) + extra_betas
    if variant.betas == "long":
        copy_rows(conn, "position_factor_betas", ["portfolio_id", "security_id", "factor_name", "beta"], betas)
    else:
        copy_rows(conn, "position_factor_betas", ["id", "portfolio_id", "security_id", "symbol", "asof_date",
                                                  "real_rate_beta", "inflation_beta", "credit_beta", "usd_beta",
                                                  "equity_beta", "commodity_beta", "volatility_beta", "methodology",
                                                  "r_squared"], betas)
    if variant.shocks == "flat":
        copy_rows(conn, "scenario_shocks", ["id", "shock_type", "shock_name", "shock_description", "real_rates_bps",
                                            "inflation_bps", "credit_spread_bps", "usd_pct", "equity_pct",
                                            "commodity_pct", "volatility_pct"], context.scenario_rows(variant))
    else:
        copy_rows(conn, "scenario_shocks", ["scenario_id", "scenario_name", "shock_definition"], context.scenario_rows(variant))
    copy_rows(conn, "fundamentals", ["security_id", "asof_date", "market_cap", "pe_ratio", "dividend_yield", "roe",
                                     "roe_5y_avg", "gross_margin_5y_avg", "operating_margin", "operating_margin_std_dev",
                                     "fcf_to_revenue", "revenue_growth_cv", "intangible_assets_ratio",
                                     "switching_cost_score", "payout_ratio_5y_avg", "fcf_dividend_coverage",
                                     "dividend_growth_streak_years", "net_cash_position", "debt_equity_ratio",
                                     "interest_coverage", "current_ratio", "cash_pct_assets"],
              context.fundamentals_rows(rng, market))
    copy_rows(conn, "news_items", ["id", "published_at", "headline", "source", "summary", "symbols", "sentiment",
                                   "impact_score"], context.news_rows(rng, books))
    copy_rows(conn, "corporate_actions", ["id", "security_id", "symbol", "action_type", "action_date", "amount",
                                          "split_ratio", "currency"], context.corporate_action_rows(rng, market, books))
    copy_rows(conn, "rating_rubrics", ["id", "rating_type", "method_version", "overall_weights", "component_thresholds",
                                       "description"], context.rubric_rows())
    copy_rows(conn, "portfolio_metrics", ["portfolio_id", "asof_date", "pricing_pack_id", "twr_1d", "twr_1y",
                                          "volatility_1y", "sharpe_1y", "max_drawdown_1y", "portfolio_value_base",
                                          "base_currency", "benchmark_id"], context.metrics_rows(market, books))
    if variant.audit_log == "a":
        copy_rows(conn, "audit_log", ["id", "event_type", "user_id", "details"], context.audit_rows(variant))
    else:
        copy_rows(conn, "audit_log", ["id", "user_id", "action", "resource_type", "resource_id", "details"],
                  context.audit_rows(variant))


def _write_books(conn, books: list[Book], orphan_lots, orphan_transactions, variant: LegacyVariant) -> None:
    copy_rows(conn, "lots", lot_columns(variant),
              [lot_row(lot, variant) for book in books for lot in book.lots] + [lot_row(l, variant) for l in orphan_lots])
    copy_rows(conn, "transactions", TRANSACTION_COLUMNS,
              [transaction_row(t) for book in books for t in book.transactions] + [transaction_row(t) for t in orphan_transactions])
    copy_rows(conn, "portfolio_daily_values", ["portfolio_id", "valuation_date", "total_value", "cash_balance",
                                               "positions_value", "cash_flows", "currency"],
              [row for book in books for row in book.daily_values])
    copy_rows(conn, "portfolio_cash_flows", ["id", "portfolio_id", "flow_date", "flow_type", "amount", "currency",
                                             "transaction_id", "description"],
              [row for book in books for row in book.cash_flows])


def _count_rows(conn) -> dict[str, int]:
    tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
    return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def _write_manifest(conn, options: SeedOptions, ledger: DefectLedger, books: list[Book], bulk: dict) -> dict:
    legal = {key: {"description": d, "count": conn.execute(q).fetchone()[0], "query": q}
             for key, (d, q) in LEGAL_QUERIES.items()}
    manifest = {
        "seed": options.seed,
        "as_of": ref.LEGACY_AS_OF.isoformat(),
        "variant": options.variant.as_dict(),
        "options": {"lots": options.lots, "portfolios": options.generated_portfolios()},
        "portfolios": {"demo": ref.DEMO_PORTFOLIO_ID, "test_portfolio_alpha": ref.ALPHA_PORTFOLIO_ID,
                       "generated": [b.portfolio.id for b in books[2:]]},
        "bulk_load": bulk,
        "defects": ledger.as_manifest(options.variant),
        "legal": legal,
        "row_counts": _count_rows(conn),
    }
    conn.execute(f"CREATE SCHEMA {META_SCHEMA}")
    conn.execute(f"CREATE TABLE {META_SCHEMA}.seed_manifest (id INT PRIMARY KEY DEFAULT 1 CHECK (id = 1), "
                 "seeded_at TIMESTAMPTZ NOT NULL DEFAULT NOW(), manifest JSONB NOT NULL)")
    conn.execute(f"INSERT INTO {META_SCHEMA}.seed_manifest (manifest) VALUES (%s)", (json.dumps(manifest),))
    return manifest


def seed_database(conn: psycopg.Connection, options: SeedOptions) -> dict:
    """Create and fill the legacy database in one transaction; return the manifest of injected defects."""
    options.validate()
    rng = np.random.default_rng(options.seed)
    with conn.transaction():
        _prepare_target(conn, options.fresh)
        create_legacy_schema(conn, options.variant)
        market = build_market(rng)
        n_generated = options.generated_portfolios()
        n_books = min(n_generated, BOOK_PORTFOLIOS)
        books = [demo_book(market), alpha_book(market)] + [generated_book(rng, market, i) for i in range(n_books)]
        for book in books:
            value_book(market, book)
        ledger = DefectLedger()
        generated = books[2:]
        inject_lot_flag_defects(rng, generated, ledger, options.variant)
        orphan_lots, orphan_transactions = orphan_rows(generated, ledger)
        cnr = next(s.id for s in market.securities if s.symbol == "CNR")
        extra_betas = orphan_beta_rows(generated, ledger, options.variant, cnr)
        bulk_portfolios = [generated_portfolio(i) for i in range(n_books, n_generated)]
        _write_reference(conn, market, rng, books + [Book(p) for p in bulk_portfolios], options.variant)
        _write_books(conn, books, orphan_lots, orphan_transactions, options.variant)
        _write_context(conn, market, rng, books, options.variant, extra_betas)
        bulk = {"lots": 0}
        existing = sum(len(b.lots) for b in books) + len(orphan_lots)
        if options.lots and options.lots > existing:
            from dawsos_assets.database.seed.bulk import load_bulk_lots

            targets = [p.id for p in bulk_portfolios] or [b.portfolio.id for b in generated]
            bulk = load_bulk_lots(conn, market, targets, options.lots - existing, options.seed, ledger,
                                  options.variant, progress=options.progress)
        return _write_manifest(conn, options, ledger, books, bulk)


def defect_counts_in_database(conn: psycopg.Connection, variant: LegacyVariant) -> dict[str, int]:
    """Count each defect with its own predicate: the ground truth the manifest must match."""
    return {key: conn.execute(query).fetchone()[0] if applicable(key, variant) else 0
            for key, (_description, query, _needs_007) in DEFECT_QUERIES.items()}
