"""Runs the demo starts are runs of the code location: listed for their job as the Jobs page lists them (GraphQL),
and followed by the Slack alert sensors like any other run — a blocked run reaches the stand-in Slack."""

import dagster as dg
import pytest
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster_graphql.test.utils import execute_dagster_graphql

from dawsos_assets.cli.demo import QUIET
from dawsos_assets.database import connection
from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.definitions import TABLES_AND_CHECKS_JOB, defs
from dawsos_assets.operations.alerts import COOLDOWN_ENV
from dawsos_assets.operations.launch import REPOSITORY_NAME, code_location_origin, run_job
from dawsos_assets.operations.sensors import SlackAlerts, check_alerts_after_failure

from .test_alert_delivery import FaultySlack

JOB_RUNS = """
query ($selector: PipelineSelector!) {
  pipelineOrError(params: $selector) { ... on Pipeline { runs { runId } } }
}"""
RUNS_OF_JOB = """
query ($job: String!) { runsOrError(filter: {pipelineName: $job}) { ... on Runs { results { runId } } } }"""


def break_one_lot(url: str) -> None:
    """A negative cost basis: the blocking ERROR check lots.row_rules fails, and with it the run."""
    with connection.connect(url) as conn:
        conn.execute("UPDATE lots SET cost_basis = -1 WHERE id = (SELECT id FROM lots ORDER BY id LIMIT 1)")
        conn.commit()


@pytest.fixture(scope="module")
def blocked_runs(databases):
    """Two blocked runs on one instance: one started the way `dawsos demo` starts runs, one by a script's
    `execute_in_process` (no code-location origin). The alert sensor's cursor is set before either."""
    url = databases.migrated()
    break_one_lot(url)
    slack = FaultySlack()
    resources = {"database": PortfolioDatabase(url=url), "slack": SlackAlerts(webhook_url=slack.url)}
    with pytest.MonkeyPatch.context() as env, dg.instance_for_test() as instance:
        env.setenv(connection.URL_ENV, url)
        env.setenv(COOLDOWN_ENV, "0")  # every failing run alerts again: each run's own message shows it was seen
        cursor = sensor_tick(instance, resources).cursor  # the first tick starts from "now"
        demo_run = run_job(instance, TABLES_AND_CHECKS_JOB, run_config=QUIET)
        script_run = defs.resolve_job_def(TABLES_AND_CHECKS_JOB).execute_in_process(
            instance=instance, run_config=QUIET, raise_on_error=False, asset_selection=[dg.AssetKey("lots")]
        )
        yield instance, demo_run, script_run, resources, cursor, slack
    slack.close()


def sensor_tick(instance, resources, cursor=None):
    """One evaluation of the failure sensor as the daemon runs it for this code location (origin and repository
    set), with its run filtering — not a direct call of the sensor function."""
    context = dg.SensorEvaluationContext(
        instance_ref=None,
        last_tick_completion_time=None,
        last_run_key=None,
        cursor=cursor,
        repository_name=REPOSITORY_NAME,
        instance=instance,
        repository_def=defs.get_repository_def(),
        resources=resources,
        code_location_origin=code_location_origin(),
    )
    with context:
        return check_alerts_after_failure.evaluate_tick(context)


def test_a_demo_run_is_listed_for_its_job_as_the_jobs_page_lists_runs(blocked_runs):
    instance, demo_run, script_run, *_ = blocked_runs
    assert not demo_run.success
    origin = instance.get_run_by_id(demo_run.run_id).remote_job_origin
    assert (origin.location_name, origin.repository_origin.repository_name) == ("dawsos_assets", REPOSITORY_NAME)
    location = InProcessCodeLocationOrigin(code_location_origin().loadable_target_origin, location_name="dawsos_assets")
    with WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(location)) as workspace:
        context = workspace.create_request_context()
        selector = {
            "repositoryLocationName": "dawsos_assets",
            "repositoryName": REPOSITORY_NAME,
            "pipelineName": TABLES_AND_CHECKS_JOB,
        }
        job_page = execute_dagster_graphql(context, JOB_RUNS, {"selector": selector}).data["pipelineOrError"]["runs"]
        all_runs = execute_dagster_graphql(context, RUNS_OF_JOB, {"job": TABLES_AND_CHECKS_JOB}).data
    assert [r["runId"] for r in job_page] == [demo_run.run_id]  # the script's run has no origin: not the location's
    assert {r["runId"] for r in all_runs["runsOrError"]["results"]} == {demo_run.run_id, script_run.run_id}


def test_every_blocked_run_reaches_slack_whoever_started_it(blocked_runs):
    instance, demo_run, script_run, resources, cursor, slack = blocked_runs
    alerted = []
    for _ in range(2):  # one run per tick
        tick = sensor_tick(instance, resources, cursor)
        cursor = tick.cursor
        alerted += [reaction.dagster_run.run_id for reaction in tick.dagster_run_reactions or []]
    assert alerted == [demo_run.run_id, script_run.run_id]
    row_rules = [text for text in slack.received if text.startswith(":red_circle: ERROR: `lots` check `row_rules`")]
    assert [run_id for run_id in (demo_run.run_id, script_run.run_id) if any(run_id in t for t in row_rules)] == [
        demo_run.run_id,
        script_run.run_id,
    ]
    assert any(text.startswith(":warning: WARN: `lots` check `drift_rules`") for text in slack.received)
