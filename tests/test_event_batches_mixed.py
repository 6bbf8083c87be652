"""Batched planned events when one run plans several assets over many partitions (as the patterns job does), and
the dynamic-partitions pin's own life cycle."""

import threading
import time

import dagster as dg
import pytest
from dagster._core.definitions.data_version import DATA_VERSION_TAG
from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
from dagster._core.events.log import EventLogEntry
from dagster._core.utils import make_new_run_id

from dawsos_assets.database import connection
from dawsos_assets.operations.instance import prepare_instance
from dawsos_assets.operations.storage import PooledPostgresEventLogStorage

SHELVES = dg.StaticPartitionsDefinition([f"shelf-{number:02d}" for number in range(30)])


def _shelf_asset(name: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        partitions_def=SHELVES,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[dg.AssetCheckSpec("counted", asset=name)],
    )
    def shelf(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        for partition in context.partition_keys:
            context.add_asset_metadata({"shelf": partition}, partition_key=partition)
        return dg.MaterializeResult(check_results=[dg.AssetCheckResult(check_name="counted", passed=True)])

    return shelf


ASSETS = ["shelf_a", "shelf_b", "shelf_c"]


def _planned_events(run_id: str) -> list[tuple[str, str]]:
    """(asset key, partition) of the run's planned events, in the order they were stored."""
    with connection.connect(connection.database_url("dagster")) as conn:
        return conn.execute(
            "SELECT asset_key, partition FROM event_logs WHERE run_id = %s "
            "AND dagster_event_type = 'ASSET_MATERIALIZATION_PLANNED' ORDER BY id",
            (run_id,),
        ).fetchall()


@pytest.mark.parametrize("batch_size", ["0", "500", "7"])
def test_a_run_planning_several_assets_records_each_assets_partitions_and_last_run(seeded_url, monkeypatch, batch_size):
    """Every asset gets one planned event per partition, stored in the order Dagster emitted them (asset by asset,
    the partitions in the same order for each), and every asset's row names the run, whether a batch holds all
    assets or cuts across them."""
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", batch_size)
    prepare_instance()
    keys = SHELVES.get_partition_keys()
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize(
            [_shelf_asset(name) for name in ASSETS],
            instance=instance,
            tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
        )
        records = {
            r.asset_entry.asset_key.path[-1]: r for r in instance.get_asset_records([dg.AssetKey(a) for a in ASSETS])
        }
        materialized = {a: instance.get_materialized_partitions(dg.AssetKey(a)) for a in ASSETS}
        unmaterialized_attempts = {
            a: instance.event_log_storage.get_latest_asset_partition_materialization_attempts_without_materializations(
                dg.AssetKey(a)
            )
            for a in ASSETS
        }
    assert result.success
    planned = _planned_events(result.run_id)
    assets = [key.strip('[]"') for key, _ in planned]
    assert assets == [a for a in ASSETS for _ in keys]  # one asset after the other, as Dagster sorts them
    order = {a: [partition for key, partition in planned if key.strip('[]"') == a] for a in ASSETS}
    assert sorted(order["shelf_a"]) == keys and order["shelf_b"] == order["shelf_c"] == order["shelf_a"]
    assert {a: r.asset_entry.last_run_id for a, r in records.items()} == dict.fromkeys(ASSETS, result.run_id)
    assert materialized == dict.fromkeys(ASSETS, set(keys))
    assert unmaterialized_attempts == {a: {} for a in ASSETS}


def _bare_storage() -> PooledPostgresEventLogStorage:
    """The pin needs no database until a key is asked for."""
    storage = PooledPostgresEventLogStorage.__new__(PooledPostgresEventLogStorage)
    storage._pinned = threading.local()
    return storage


def test_the_pin_is_gone_after_an_error_in_its_block_and_other_threads_never_see_it():
    storage = _bare_storage()
    with pytest.raises(ValueError), storage.dynamic_partitions_pinned():
        raise ValueError("a step failing while it adds metadata")
    assert getattr(storage._pinned, "keys", None) is None
    seen = []
    with storage.dynamic_partitions_pinned():
        other = threading.Thread(target=lambda: seen.append(getattr(storage._pinned, "keys", None)))
        other.start()
        other.join()
    assert seen == [None]


def test_a_pin_inside_a_pin_leaves_the_outer_one_in_place():
    """A helper that pins while its caller already pinned must not unpin the caller, nor fail on the way out."""
    storage = _bare_storage()
    with storage.dynamic_partitions_pinned():
        with storage.dynamic_partitions_pinned():
            pass
        assert getattr(storage._pinned, "keys", None) is not None


def _failing_shelf(name: str) -> dg.AssetsDefinition:
    @dg.asset(name=name, partitions_def=SHELVES, backfill_policy=dg.BackfillPolicy.single_run())
    def shelf() -> None:
        raise RuntimeError("the database went away")

    return shelf


def test_a_failed_run_planning_several_assets_names_itself_on_each_asset(seeded_url):
    """Without a materialization, only the planned events say which run last tried an asset (the UI's "last run"):
    a batch of planned events for several assets must update every asset's row, not just one."""
    prepare_instance()
    keys = SHELVES.get_partition_keys()
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize(
            [_failing_shelf(f"failing_{name}") for name in ASSETS],
            instance=instance,
            raise_on_error=False,
            tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
        )
        records = instance.get_asset_records([dg.AssetKey(f"failing_{a}") for a in ASSETS])
    assert not result.success
    assert {r.asset_entry.asset_key.path[-1]: r.asset_entry.last_run_id for r in records} == {
        f"failing_{a}": result.run_id for a in ASSETS
    }


class _RefusingIOManager(dg.ConfigurableIOManager):
    """Stores `left`, refuses `right`: the step fails after the first output's partitions were materialized."""

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        if context.asset_key.path[-1] == "right":
            raise RuntimeError("the disk is full")

    def load_input(self, context: dg.InputContext):
        raise NotImplementedError


@dg.multi_asset(
    outs={"left": dg.AssetOut(), "right": dg.AssetOut()},
    partitions_def=SHELVES,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def left_and_right(context: dg.AssetExecutionContext):
    return 1, 2


def test_a_step_failing_after_its_first_outputs_materializations_loses_none_of_them(seeded_url):
    """The first output's materializations are buffered a batch at a time; the step then fails on the second: every
    partition of the first is materialized, every partition of the second is reported failed."""
    prepare_instance()
    keys = SHELVES.get_partition_keys()
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize(
            [left_and_right],
            instance=instance,
            resources={"io_manager": _RefusingIOManager()},
            raise_on_error=False,
            tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
        )
        left = instance.get_materialized_partitions(dg.AssetKey("left"))
        right_failed = (
            instance.event_log_storage.get_latest_asset_partition_materialization_attempts_without_materializations(
                dg.AssetKey("right")
            )
        )
    assert not result.success
    assert left == set(keys)
    assert set(right_failed) == set(keys)


def _materialization(run_id: str, asset: str, partition: str) -> EventLogEntry:
    """A partition's materialization whose indexed tag (its data version) names the partition."""
    materialization = dg.AssetMaterialization(asset, partition=partition, tags={DATA_VERSION_TAG: f"v-{partition}"})
    event = DagsterEvent(
        event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
        job_name="shelves",
        event_specific_data=StepMaterializationData(materialization),
    )
    return EventLogEntry(
        error_info=None, level="DEBUG", user_message="", run_id=run_id, timestamp=time.time(), dagster_event=event
    )


def test_a_batch_of_materializations_gives_each_event_its_own_id_tags_and_the_latest_to_its_asset(seeded_url):
    """The rows of a batch are inserted at once and their ids read back: each partition's tag row must carry the id
    of that partition's event, and each asset's row the id of its last event (two assets in one batch)."""
    prepare_instance()
    run_id = make_new_run_id()
    events = [
        _materialization(run_id, asset, key) for asset in ("shelf_x", "shelf_y") for key in SHELVES.get_partition_keys()
    ]
    with dg.DagsterInstance.get() as instance:
        instance.event_log_storage.store_event_batch(events)
        latest = {
            r.asset_entry.asset_key.path[-1]: r.asset_entry.last_materialization_record.storage_id
            for r in instance.get_asset_records([dg.AssetKey("shelf_x"), dg.AssetKey("shelf_y")])
        }
    with connection.connect(connection.database_url("dagster")) as conn:
        rows = conn.execute(
            "SELECT e.id, e.asset_key, e.partition, t.value FROM event_logs e "
            "JOIN asset_event_tags t ON t.event_id = e.id AND t.asset_key = e.asset_key AND t.key = %s "
            "WHERE e.run_id = %s ORDER BY e.id",
            (DATA_VERSION_TAG, run_id),
        ).fetchall()
    assert len(rows) == len(events)
    assert [(key.strip('[]"'), partition) for _, key, partition, _ in rows] == [
        (e.dagster_event.asset_key.path[-1], e.dagster_event.partition) for e in events
    ]
    assert all(value == f"v-{partition}" for _, _, partition, value in rows)
    assert latest == {"shelf_x": rows[len(SHELVES.get_partition_keys()) - 1][0], "shelf_y": rows[-1][0]}


def test_a_batch_larger_than_a_page_of_rows_is_still_one_statement(seeded_url):
    """SQLAlchemy sends an executemany's rows in pages of 1,000, each a statement committed on its own: a batch of
    more (DAGSTER_EVENT_BATCH_SIZE is the user's to raise) must still be stored whole or not at all."""
    prepare_instance()
    run_id = make_new_run_id()
    events = [_materialization(run_id, "shelf_z", f"shelf-{number:04d}") for number in range(1_001)]
    with dg.DagsterInstance.get() as instance:
        instance.event_log_storage.store_event_batch(events)
    with connection.connect(connection.database_url("dagster")) as conn:
        stored, transactions = conn.execute(
            "SELECT count(*), count(DISTINCT xmin::text) FROM event_logs WHERE run_id = %s", (run_id,)
        ).fetchone()
    assert (stored, transactions) == (1_001, 1)
