"""The legacy database and its demo data, on a real PostgreSQL."""

import pytest

from dawsos_assets import errors
from dawsos_assets.cli.report import alpha_validation
from dawsos_assets.database import connection
from dawsos_assets.database.inspect import legacy_findings
from dawsos_assets.database.legacy import LegacyVariant
from dawsos_assets.database.seed import reference as ref
from dawsos_assets.database.seed.loader import (
    SeedOptions,
    defect_counts_in_database,
    load_provider_data,
    read_manifest,
    seed_database,
)
from dawsos_assets.errors import DawsosError

VARIANTS = [
    LegacyVariant(),
    LegacyVariant(lots_007=False, betas="wide", shocks="jsonb", audit_log="a"),
    LegacyVariant(lots_007=True, betas="wide", shocks="flat", audit_log="a"),
    LegacyVariant(lots_007=False, betas="long", shocks="jsonb", audit_log="b"),
    LegacyVariant(state="nov4"),
    LegacyVariant(state="nov8"),
]


def variant_id(variant: LegacyVariant) -> str:
    return (
        variant.state
        if variant.state != "plan"
        else f"007={variant.lots_007}-{variant.betas}-{variant.shocks}-{variant.audit_log}"
    )


def table_digest(conn, table: str, order: str) -> str:
    """Digest of every row without the columns that record when it was written."""
    return conn.execute(
        f"SELECT md5(string_agg((to_jsonb(t) - 'created_at' - 'updated_at' - 'computed_at')::text, '|' "
        f"ORDER BY {order})) FROM {table} t"
    ).fetchone()[0]


def test_plan_validation_query_on_test_portfolio_alpha(seeded_url):
    with connection.connect(seeded_url) as conn:
        assert alpha_validation(conn) == {
            "lot_count": 3,
            "total_quantity": 225,
            "total_qty_open": 225,
            "total_cost": 55000,
        }


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_manifest_matches_the_defects_in_the_database(databases, variant):
    url = databases.seeded(variant)
    with connection.connect(url) as conn:
        manifest = read_manifest(conn)
        found = defect_counts_in_database(conn)
        assert found == {key: item["count"] for key, item in manifest["defects"].items()}
        assert all(item["injected"] > 0 for item in manifest["defects"].values() if item["applicable"])
        detected = legacy_findings(conn)["variant"]
        if variant.state == "plan":
            assert (
                found["orphaned_lots"] > 0
                and found["orphaned_transactions"] > 0
                and found["orphaned_betas_security"] > 0
            )
            assert detected == {k: v for k, v in variant.as_dict().items() if k != "state"}
        else:  # the team's keys forbid orphaned lots and transactions; their 002d relinked the old ones
            assert found["orphaned_lots"] == found["orphaned_transactions"] == 0
            assert not manifest["defects"]["orphaned_lots"]["applicable"]
        if variant.lots_007:
            assert found["open_lots_with_zero_qty_open"] and found["closed_lots_with_positive_qty_open"]
            assert found["quantity_differs_from_qty_original"]


def test_states_follow_the_teams_history(databases):
    """nov4: quantity columns renamed, keys added, four tables dropped; nov8: wide betas, flat shocks and
    audit_log back. Neither state has a migration ledger, and the plan's date has none either."""
    shapes = {}
    for state in ("plan", "nov4", "nov8"):
        with connection.connect(databases.seeded(LegacyVariant(state=state))) as conn:
            shapes[state] = legacy_findings(conn)
            shapes[state]["tables"] = {
                t for (t,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            }
            shapes[state]["reduce_lot"] = conn.execute(
                "SELECT prorettype::regtype::text FROM pg_proc WHERE proname = 'reduce_lot'"
            ).fetchone()[0]
    for shape in shapes.values():
        assert "migration_history" not in shape["tables"]
        assert not {"fundamentals", "news_items", "corporate_actions"} & shape["tables"]
    assert shapes["plan"]["lots_quantity_columns"] == ["quantity", "qty_open", "qty_original"]
    assert shapes["nov4"]["lots_quantity_columns"] == ["quantity", "quantity_open", "quantity_original"]
    assert shapes["plan"]["reduce_lot"] == "numeric" and shapes["nov4"]["reduce_lot"] == "void"
    assert not {"position_factor_betas", "scenario_shocks", "audit_log", "rating_rubrics"} & shapes["nov4"]["tables"]
    assert shapes["nov8"]["variant"] == {"lots_007": True, "betas": "wide", "shocks": "flat", "audit_log": "b"}
    assert {"economic_indicators", "dar_history", "scenario_results"} <= shapes["nov8"]["tables"]
    missing_nov4 = {(fk["table"], fk["column"]) for fk in shapes["nov4"]["missing_foreign_keys"]}
    assert ("lots", "security_id") not in missing_nov4 and ("transactions", "security_id") not in missing_nov4


def test_the_real_plan_state_replays_dawsos_files_and_takes_the_demo_data_on_top(databases):
    """Built from DawsOS's own SQL at the plan's commit: its own demo portfolio (random ids) is adopted, not doubled."""
    url = databases.real("plan")
    with connection.connect(url) as conn:
        manifest = read_manifest(conn)
        assert defect_counts_in_database(conn) == {key: item["count"] for key, item in manifest["defects"].items()}
        # the schema file's sample betas point at a portfolio and a security that never existed
        assert manifest["defects"]["orphaned_betas_security"]["found_before_seeding"] == 4
        assert conn.execute("SELECT to_regclass('migration_history') IS NULL").fetchone()[0]
        assert (
            conn.execute("SELECT pg_get_function_identity_arguments('reduce_lot'::regproc)").fetchone()[0]
            == "p_lot_id uuid, p_qty_to_reduce numeric, p_disposition_date date"
        )
        kinds = dict(
            conn.execute(
                "SELECT transaction_type, count(*) FROM transactions WHERE portfolio_id = %s GROUP BY 1",
                (ref.DEMO_PORTFOLIO_ID,),
            ).fetchall()
        )
        assert kinds == {"BUY": 17, "SELL": 4, "DIVIDEND": 14}
        assert (
            conn.execute("SELECT count(*) FROM lots WHERE portfolio_id = %s", (ref.DEMO_PORTFOLIO_ID,)).fetchone()[0]
            == 17
        )
        assert (
            conn.execute(
                "SELECT count(*) FROM portfolio_daily_values WHERE portfolio_id = %s", (ref.DEMO_PORTFOLIO_ID,)
            ).fetchone()[0]
            > 250
        )
        policies = {p for (p,) in conn.execute("SELECT polname FROM pg_policy")}
        assert {"portfolios_isolation", "lots_isolation", "transactions_isolation"} <= policies  # migration 005


def test_same_seed_gives_the_same_database(databases):
    first, second = databases.empty(), databases.empty()
    digests = []
    for url in (first, second):
        with connection.connect(url) as conn:
            seed_database(conn, SeedOptions(seed=7, progress=False))
            digests.append(
                [
                    table_digest(conn, t, o)
                    for t, o in (
                        ("lots", "id"),
                        ("transactions", "id"),
                        ("portfolio_daily_values", "portfolio_id, valuation_date"),
                        ("prices", "id"),
                        ("macro_indicators", "id"),
                        ("position_factor_betas", "portfolio_id, security_id, factor_name"),
                    )
                ]
            )
    assert digests[0] == digests[1]


def test_open_lots_agree_with_the_transaction_ledger(seeded_url):
    """Per portfolio and security, shares still open in lots equal buys minus sells (orphans excluded)."""
    with connection.connect(seeded_url) as conn:
        disagreements = conn.execute("""
            WITH ledger AS (
                SELECT portfolio_id, security_id,
                       SUM(CASE transaction_type WHEN 'BUY' THEN quantity WHEN 'SELL' THEN -quantity ELSE 0 END) AS held
                  FROM transactions WHERE security_id IN (SELECT id FROM securities) GROUP BY 1, 2),
            book AS (
                SELECT portfolio_id, security_id, SUM(qty_open) AS held
                  FROM lots WHERE security_id IN (SELECT id FROM securities) GROUP BY 1, 2)
            SELECT count(*) FROM ledger FULL JOIN book USING (portfolio_id, security_id)
             WHERE COALESCE(ledger.held, 0) <> COALESCE(book.held, 0)""").fetchone()[0]
        assert disagreements == 0


def test_daily_values_agree_with_lots_prices_and_fx(seeded_url):
    with connection.connect(seeded_url) as conn:
        assert (
            conn.execute(
                "SELECT count(*) FROM portfolio_daily_values WHERE total_value <> positions_value + cash_balance"
            ).fetchone()[0]
            == 0
        )
        assert conn.execute("SELECT count(*) FROM portfolio_daily_values WHERE cash_balance < 0").fetchone()[0] == 0
        rows = conn.execute("""
            WITH last AS (SELECT max(date) AS day FROM pricing_packs),
            valued AS (
                SELECT l.portfolio_id, SUM(l.qty_open * pr.close * COALESCE(fx.rate, 1)) AS value
                  FROM lots l JOIN portfolios p ON p.id = l.portfolio_id
                  JOIN prices pr ON pr.security_id = l.security_id
                                AND pr.pricing_pack_id = 'PP_' || (SELECT day FROM last)
                  LEFT JOIN fx_rates fx ON fx.base_ccy = l.currency AND fx.quote_ccy = p.base_currency
                                       AND fx.pricing_pack_id = pr.pricing_pack_id
                 WHERE l.qty_open > 0 GROUP BY 1)
            SELECT v.portfolio_id, v.value, d.positions_value
              FROM valued v JOIN portfolio_daily_values d
                ON d.portfolio_id = v.portfolio_id AND d.valuation_date = (SELECT day FROM last)""").fetchall()
        assert len(rows) == 2 + 6
        for portfolio_id, value, positions_value in rows:
            assert abs(float(value) - float(positions_value)) < 0.02, portfolio_id


def test_demo_portfolio_is_the_facts_portfolio(seeded_url):
    with connection.connect(seeded_url) as conn:
        by_symbol = dict(
            conn.execute(
                "SELECT symbol, SUM(quantity) FROM lots WHERE portfolio_id = %s GROUP BY 1", (ref.DEMO_PORTFOLIO_ID,)
            ).fetchall()
        )
        assert {k: float(v) for k, v in by_symbol.items()} == {
            "CNR": 300,
            "BAM": 600,
            "BBUC": 50_000,
            "BRK.B": 130,
            "BTI": 800,
            "EVO": 250,
            "NKE": 250,
            "PYPL": 400,
            "HHC": 300,
        }
        kinds = dict(
            conn.execute(
                "SELECT transaction_type, count(*) FROM transactions WHERE portfolio_id = %s GROUP BY 1",
                (ref.DEMO_PORTFOLIO_ID,),
            ).fetchall()
        )
        assert kinds == {"BUY": 17, "SELL": 4, "DIVIDEND": 14}


def test_seeding_a_seeded_database_needs_fresh(seeded_url):
    with connection.connect(seeded_url) as conn:
        with pytest.raises(DawsosError) as raised:
            seed_database(conn, SeedOptions(progress=False))
        assert raised.value.code == errors.DB_ALREADY_SEEDED and "--fresh" in raised.value.suggestion
        conn.rollback()
        manifest = seed_database(conn, SeedOptions(seed=9, fresh=True, progress=False))
        assert manifest["seed"] == 9 and read_manifest(conn)["seed"] == 9


def test_a_database_with_foreign_tables_is_never_touched(empty_url):
    with connection.connect(empty_url) as conn:
        conn.execute("CREATE TABLE precious (id int)")
        conn.execute("INSERT INTO precious VALUES (1)")
        conn.commit()
        with pytest.raises(DawsosError) as raised:
            seed_database(conn, SeedOptions(fresh=True, progress=False))
        assert raised.value.code == errors.DB_ALREADY_SEEDED
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM precious").fetchone()[0] == 1


def test_bulk_lots_are_loaded_with_indexes_and_keys_restored(databases):
    small, bulk = databases.empty(), databases.empty()
    catalog_sql = (
        "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND tablename IN ('lots', 'transactions') "
        "UNION ALL SELECT conname FROM pg_constraint WHERE conrelid IN ('lots'::regclass, 'transactions'::regclass) "
        "ORDER BY 1"
    )
    with connection.connect(small) as conn:
        seed_database(conn, SeedOptions(progress=False))
        expected_catalog = conn.execute(catalog_sql).fetchall()
    with connection.connect(bulk) as conn:
        manifest = seed_database(conn, SeedOptions(lots=60_000, progress=False))
        assert conn.execute("SELECT count(*) FROM lots").fetchone()[0] == 60_000
        assert conn.execute(catalog_sql).fetchall() == expected_catalog
        assert (
            conn.execute(
                "SELECT count(*) FROM lots l WHERE NOT EXISTS (SELECT 1 FROM transactions t WHERE t.lot_id = l.id)"
            ).fetchone()[0]
            == 0
        )
        found = defect_counts_in_database(conn)
        assert found == {key: item["count"] for key, item in manifest["defects"].items()}
        assert manifest["options"]["portfolios"] == 6


def test_seed_arguments_are_validated():
    for options in (
        SeedOptions(lots=0),
        SeedOptions(lots=10_000_001),
        SeedOptions(portfolios=0),
        SeedOptions(variant=LegacyVariant(state="nov4", betas="wide")),
    ):
        with pytest.raises(DawsosError) as raised:
            options.validate()
        assert raised.value.code == errors.SEED_ARGUMENT_INVALID


def test_provider_feeds_go_into_the_tables_migration_019_creates(databases):
    with connection.connect(databases.seeded()) as conn:
        with pytest.raises(DawsosError) as raised:
            load_provider_data(conn)
        assert raised.value.code == errors.DB_NOT_MIGRATED and "migrate apply" in raised.value.suggestion
    with connection.connect(databases.migrated()) as conn:
        counts = {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("fundamentals", "news_items", "corporate_actions")
        }
        assert all(n > 0 for n in counts.values()), counts
        assert load_provider_data(conn) == dict.fromkeys(counts, 0)  # loading again adds nothing
