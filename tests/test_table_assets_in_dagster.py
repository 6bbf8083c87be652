"""Table assets and their checks through Dagster (issue 12, items 3, 4 and 8): checks run on their own and say
their rules in words, data versions move only with the data, failing rows come as tables, holdings are checked.

One migrated database for the module; each test that writes works on its own clone."""

import dagster as dg
import pytest

from dawsos_assets.database import connection
from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.definitions import OBSERVE_LEGACY_JOB, defs
from dawsos_assets.tables.asset_checks import build_table_checks
from dawsos_assets.tables.checks import check_descriptions, check_names
from dawsos_assets.tables.contracts import CONTRACTS
from dawsos_assets.tables.holdings import (
    EVERY_POSITION_PRICED,
    HOLDINGS_KEY,
    WEIGHTS_SUM_TO_ONE,
    holdings,
    holdings_checks,
)
from dawsos_assets.tables.legacy_assets import legacy_key
from dawsos_assets.tables.standards import FOREIGN_KEYS
from dawsos_assets.tables.table_assets import build_table_asset, table_key

DATA_VERSION = "dagster/data_version"


def run(assets, url: str, instance, selection=None):
    return dg.materialize(
        assets,
        selection=selection,
        instance=instance,
        raise_on_error=False,
        resources={"database": PortfolioDatabase(url=url)},
    )


def execute(url: str, sql: str) -> None:
    with connection.connect(url) as conn:
        conn.execute(sql)
        conn.commit()


@pytest.fixture(scope="module")
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def test_the_checks_of_one_table_run_without_materializing_it(databases, instance):
    url = databases.migrated()
    lots = [build_table_asset("lots"), build_table_checks("lots")]
    result = run(lots, url, instance, selection=dg.AssetSelection.checks_for_assets(table_key("lots")))
    assert result.success
    assert {e.check_name for e in result.get_asset_check_evaluations()} == {name for name, _ in check_names("lots")} | {
        "row_count_change"
    }
    assert result.get_asset_materialization_events() == []
    assert instance.fetch_materializations(table_key("lots"), limit=1).records == []
    one = dg.AssetCheckKey(table_key("lots"), "fk_security_id")
    alone = run(lots, url, instance, selection=dg.AssetSelection.checks(one))
    assert [e.check_name for e in alone.get_asset_check_evaluations()] == ["fk_security_id"]
    assert alone.get_asset_materialization_events() == []


def test_each_check_states_its_rules_in_words_from_the_contract():
    specs = {
        (spec.asset_key.to_user_string(), spec.name): spec.description
        for checks in defs.asset_checks
        for spec in checks.check_specs
    }
    for table in CONTRACTS:
        for name, description in check_descriptions(table).items():
            assert specs[(table, name)] == description
    row_rules, drift = specs[("lots", "row_rules")], specs[("lots", "drift_rules")]
    assert "quantity_open <= quantity_original" in row_rules and "quantity_open >= 0" in row_rules
    assert "currency is one of USD, EUR" in row_rules and "closed_date is not before acquisition_date" in row_rules
    assert "quantity equals quantity_original" in drift and "quantity_original" not in row_rules.split("never empty")[0]
    for fk in FOREIGN_KEYS:
        assert f"{fk.parent}.{fk.parent_column}" in specs[(fk.table, f"fk_{fk.column}")]


def _version(result, key: dg.AssetKey) -> str:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    return event.step_materialization_data.materialization.tags[DATA_VERSION]


def test_a_table_keeps_its_data_version_until_its_data_changes(databases, instance):
    url = databases.migrated()
    lots = [build_table_asset("lots")]
    first, second = (_version(run(lots, url, instance), table_key("lots")) for _ in range(2))
    assert first == second
    execute(url, "UPDATE lots SET cost_basis = cost_basis + 1 WHERE id = (SELECT min(id::text)::uuid FROM lots)")
    updated = _version(run(lots, url, instance), table_key("lots"))
    execute(url, "DELETE FROM lots WHERE id = (SELECT min(id::text)::uuid FROM lots WHERE NOT is_open)")
    deleted = _version(run(lots, url, instance), table_key("lots"))
    execute(url, "ALTER TABLE lots RENAME COLUMN closed_date TO date_closed")  # no row written
    renamed = _version(run(lots, url, instance), table_key("lots"))
    assert len({second, updated, deleted, renamed}) == 4


def test_a_legacy_observation_keeps_its_data_version_until_its_data_changes(databases, instance, monkeypatch):
    url = databases.seeded()
    monkeypatch.setenv(connection.URL_ENV, url)
    job = defs.resolve_job_def(OBSERVE_LEGACY_JOB)

    def version() -> str:
        events = job.execute_in_process(instance=instance).get_asset_observation_events()
        [event] = [e for e in events if e.asset_key == legacy_key("prices")]
        return event.asset_observation_data.asset_observation.tags[DATA_VERSION]

    first, second = version(), version()
    execute(url, "UPDATE prices SET close = close * 1.01 WHERE ctid = (SELECT min(ctid) FROM prices)")
    assert first == second != version()


def test_failing_rows_are_a_table_typed_by_the_contract(databases, instance):
    url = databases.seeded()  # the legacy database: orphaned lots, legacy column names
    result = run(
        [build_table_asset("lots"), build_table_checks("lots")],
        url,
        instance,
        selection=dg.AssetSelection.checks_for_assets(table_key("lots")),
    )
    orphans = next(e for e in result.get_asset_check_evaluations() if e.check_name == "fk_security_id")
    sample = orphans.metadata["sample"]
    assert isinstance(sample, dg.TableMetadataValue) and len(sample.records) == orphans.metadata["failing_count"].value
    columns = {c.name: c for c in sample.schema.columns}
    assert columns["security_id"].type == "uuid"
    assert columns["qty_open"].type == "numeric"  # the legacy name takes quantity_open's entry
    assert columns["qty_open"].description == "Shares of the lot still held"


def test_holdings_report_unpriced_positions_and_weights_that_do_not_add_up(databases, instance):
    url = databases.migrated()
    checked = [holdings, holdings_checks]
    before = {e.check_name: e for e in run(checked, url, instance).get_asset_check_evaluations()}
    assert before[WEIGHTS_SUM_TO_ONE].passed
    already_unpriced = before[EVERY_POSITION_PRICED].metadata["failing_count"].value  # the demo data has one
    execute(
        url,
        """DELETE FROM prices WHERE security_id = (SELECT security_id FROM analytics.holdings
                                                             WHERE market_value IS NOT NULL LIMIT 1)
                      AND pricing_pack_id = (SELECT id FROM pricing_packs WHERE superseded_by IS NULL
                                              ORDER BY asof_date DESC, id DESC LIMIT 1)""",
    )
    unpriced = {e.check_name: e for e in run(checked, url, instance).get_asset_check_evaluations()}
    assert unpriced[WEIGHTS_SUM_TO_ONE].passed  # the other weights still add up: the gap is visible only here
    missing = unpriced[EVERY_POSITION_PRICED]
    assert not missing.passed and missing.severity == dg.AssetCheckSeverity.WARN
    assert missing.metadata["failing_count"].value > already_unpriced  # every position in that security
    assert all(record.data["price"] is None for record in missing.metadata["sample"].records)
    # weights broken by hand in a copy of the view: the blocking check, run on its own, catches it
    execute(
        url,
        """CREATE TABLE analytics.holdings_copy AS SELECT * FROM analytics.holdings;
                    DROP MATERIALIZED VIEW analytics.holdings;
                    ALTER TABLE analytics.holdings_copy RENAME TO holdings;
                    UPDATE analytics.holdings SET weight = weight * 2
                     WHERE (portfolio_id, security_id) = (SELECT portfolio_id, security_id FROM analytics.holdings
                                                           WHERE weight > 0 LIMIT 1)""",
    )
    alone = run(
        checked, url, instance, selection=dg.AssetSelection.checks(dg.AssetCheckKey(HOLDINGS_KEY, WEIGHTS_SUM_TO_ONE))
    )
    [weights] = alone.get_asset_check_evaluations()
    assert not weights.passed and weights.metadata["failing_count"].value == 1
    assert alone.get_asset_materialization_events() == []
