"""Great Expectations suites follow the contracts; the report and the plan's metrics materialize."""

from pathlib import Path

import dagster as dg
import pytest

from dawsos_assets.database import connection
from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.migrations.runner import MigrationRunner
from dawsos_assets.tables.contracts import CONTRACTS
from dawsos_assets.tables.expectations import committed_suite, comparable, suite_for
from dawsos_assets.tables.quality import data_quality_report, refactoring_success_metrics


@pytest.mark.parametrize("table", list(CONTRACTS))
def test_committed_suite_matches_the_contract(table):
    generated = comparable(suite_for(table).to_json_dict())
    assert comparable(committed_suite(table)) == generated, "run `dawsos expectations build` and commit the result"


def test_report_and_metrics_materialize(seeded_url):
    with dg.instance_for_test() as instance:
        resources = {"database": PortfolioDatabase(url=seeded_url)}
        legacy = dg.materialize([refactoring_success_metrics], instance=instance, resources=resources)
        MigrationRunner(seeded_url, backup=False).apply()
        migrated = dg.materialize(
            [refactoring_success_metrics, data_quality_report], instance=instance, resources=resources
        )
    before = {k: v.value for k, v in legacy.get_asset_materialization_events()[0].materialization.metadata.items()}
    after = {
        e.asset_key.to_user_string(): {k: getattr(v, "value", v) for k, v in e.materialization.metadata.items()}
        for e in migrated.get_asset_materialization_events()
    }
    metrics = after["refactoring_success_metrics"]
    assert before["field_name_consistency_pct"] == 0.0 and metrics["field_name_consistency_pct"] == 100.0
    assert before["fk_coverage_pct"] < 100.0 and metrics["fk_coverage_pct"] == 100.0
    assert before["orphan_count"] == 16 and metrics["orphan_count"] == 0
    report = after["data_quality_report"]
    assert report["suites"] == len(CONTRACTS)
    assert report["suites_fully_passing"] == len(CONTRACTS) - 1  # lots: the WARN flag conflicts stay visible
    assert report["data_docs"].startswith("http://127.0.0.1:")  # what `dawsos ui` serves
    assert (Path(report["data_docs_files"]) / "index.html").exists()


def test_foreign_key_coverage_counts_only_validated_keys(seeded_url):
    from dawsos_assets.tables.inspect_standard import foreign_key_coverage

    MigrationRunner(seeded_url, backup=False).apply(target=15)
    with connection.connect(seeded_url) as conn:
        before = foreign_key_coverage(conn)
        conn.execute(
            "ALTER TABLE lots ADD CONSTRAINT fk_by_hand FOREIGN KEY (security_id) REFERENCES securities (id) NOT VALID"
        )
        assert foreign_key_coverage(conn) == before  # orphans still there: the key vouches for nothing yet
        conn.rollback()
