"""Importing the definitions has no side effects; Dagster's loader reads the deployment's settings, and a malformed
Slack webhook is refused where it is used, with its coded error and never its value."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from dawsos_assets import errors
from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.definitions import build_defs, defs, load_definitions
from dawsos_assets.errors import DawsosError
from dawsos_assets.operations.sensors import SlackAlerts, slack_alert_retries

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SECRET = "XSECRETX"

# Runs in a fresh interpreter. An audit hook sees every file opened (outside the project's source), socket used and
# process started; it counts the event as the project's when the innermost dawsos_assets frame on the stack is
# running its own code, not importing a library (croniter asking `file` about the interpreter at its import is
# croniter's habit). A wrapper around os.environ sees every variable the project's own lines read or write.
PROBE = r'''
import importlib, json, os, sys

PROJECT, MODULE = sys.argv[1:3]  # the package's folder (its parent holds sql/) and the module to import
SOURCES = tuple(os.path.realpath(p) + os.sep for p in (PROJECT, os.path.join(os.path.dirname(PROJECT), "sql")))
sys.path.insert(0, os.path.dirname(PROJECT))
found = []


def ours():
    frame, crossed_import = sys._getframe(2), False
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith(PROJECT):
            return None if crossed_import else f"{os.path.relpath(name)}:{frame.f_lineno}"
        crossed_import = crossed_import or name.startswith("<frozen importlib")
        frame = frame.f_back
    return None


def hook(event, args):
    if event == "open" and not isinstance(args[0], int):
        if os.path.realpath(os.fsdecode(args[0])).startswith(SOURCES):
            return
    elif not (event.startswith("socket.") or event in ("subprocess.Popen", "os.system", "os.posix_spawn", "os.fork")):
        return
    where = ours()
    if where:
        found.append([event, where])


def written_here():
    """The project's line that touched os.environ itself (libraries read their own switches, such as Dagster's
    DAGSTER_RECORD_DEFENSIVE_CHECKS: not ours to judge)."""
    frame = sys._getframe(3)  # above this function, _note and the dunder method
    while frame.f_code.co_filename in ("<frozen os>", "<frozen _collections_abc>"):
        frame = frame.f_back
    name = frame.f_code.co_filename
    return f"{os.path.relpath(name)}:{frame.f_lineno}" if name.startswith(PROJECT) else None


class WatchedEnviron(type(os.environ)):
    def _note(self, what, key):
        where = written_here()
        if where:
            found.append([f"environ {what} {key}", where])

    def __getitem__(self, key):
        self._note("read", key)
        return super().__getitem__(key)

    def __setitem__(self, key, value):
        self._note("write", key)
        super().__setitem__(key, value)

    def __contains__(self, key):
        self._note("read", key)
        return super().__contains__(key)


os.environ = WatchedEnviron(os.environ._data, os.environ.encodekey, os.environ.decodekey, os.environ.encodevalue,
                            os.environ.decodevalue)
sys.addaudithook(hook)
importlib.import_module(MODULE)

print(json.dumps(found))
'''


@pytest.fixture(scope="module")
def listener():
    """A loopback port the poisoned settings point at: any connection to it is a side effect."""
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    yield server
    server.close()


def _connections(server) -> int:
    count = 0
    while True:
        try:
            connection, _ = server.accept()
        except BlockingIOError:
            return count
        connection.close()
        count += 1


def test_importing_the_definitions_reads_no_setting_and_touches_no_file_or_server(listener, tmp_path):
    port = listener.getsockname()[1]
    home = tmp_path / "never-created"
    poisoned = {
        **os.environ,
        "DAWSOS_HOME": str(home),
        "DAWSOS_DATABASE_URL": f"postgresql://nobody@127.0.0.1:{port}/nothing",
        "DAWSOS_SLACK_WEBHOOK_URL": f"htp:/hooks.slack.com/{SECRET}",  # malformed: reading it would fail
        "DAWSOS_SCHEDULE_TIMEZONE": "Nowhere/Never",
        "DAWSOS_WEBSERVER_URL": f"http://127.0.0.1:{port}",
    }
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(PROJECT_ROOT / "dawsos_assets"), "dawsos_assets.definitions"],
        cwd=PROJECT_ROOT,
        env=poisoned,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.strip().splitlines()[-1] == "[]"
    assert _connections(listener) == 0
    assert not home.exists()


def test_the_probe_sees_a_setting_read_and_a_file_opened_at_import(tmp_path):
    """The probe itself works: a package module that reads a variable and opens a file at import is caught."""
    package = tmp_path / "probed"
    package.mkdir()
    (package / "__init__.py").write_text("")
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    (package / "target.py").write_text(
        f"import os\nTIMEZONE = os.environ.get('DAWSOS_SCHEDULE_TIMEZONE')\nopen({str(outside)!r}).close()\n"
    )
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(package), "probed.target"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    found = probe.stdout.strip().splitlines()[-1]
    assert "environ read DAWSOS_SCHEDULE_TIMEZONE" in found and '"open"' in found


def test_dagster_loads_the_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("DAWSOS_SCHEDULE_TIMEZONE", "America/Toronto")
    monkeypatch.setenv("DAWSOS_SLACK_WEBHOOK_URL", f"https://hooks.slack.com/services/T/B/{SECRET}")
    loaded = load_definitions()
    assert {schedule.execution_timezone for schedule in loaded.schedules} == {"America/Toronto"}
    slack = loaded.resources["slack"]
    assert slack.webhook_url == dg.EnvVar("DAWSOS_SLACK_WEBHOOK_URL")  # unresolved: the UI shows the name only
    same_graph = set(defs.resolve_asset_graph().get_all_asset_keys())
    assert set(loaded.resolve_asset_graph().get_all_asset_keys()) == same_graph


def test_the_definitions_are_built_once_per_set_of_settings(monkeypatch):
    """A run forked from the preloaded process reuses the graph that process built; other settings build anew."""
    monkeypatch.setenv("DAWSOS_SCHEDULE_TIMEZONE", "UTC")
    first = load_definitions()
    assert load_definitions() is first
    monkeypatch.setenv("DAWSOS_SCHEDULE_TIMEZONE", "Asia/Tokyo")
    other = load_definitions()
    assert other is not first and {schedule.execution_timezone for schedule in other.schedules} == {"Asia/Tokyo"}


def test_build_defs_takes_resources_from_the_caller():
    database = PortfolioDatabase(url="postgresql://postgres@127.0.0.1:1/elsewhere")
    assert build_defs(resources={"database": database}).resources["database"] is database


def test_assets_link_to_their_source():
    references = [spec.metadata.get("dagster/code_references") for spec in defs.resolve_all_asset_specs()]
    assert all(reference and reference.code_references for reference in references)
    sources = PROJECT_ROOT / "dawsos_assets", PROJECT_ROOT / "sql" / "migrations"  # migrations link to their file
    assert all(any(Path(ref.code_references[0].file_path).is_relative_to(s) for s in sources) for ref in references)


@pytest.mark.parametrize(
    "webhook",
    [
        f"htp:/hooks.slack.com/services/T/B/{SECRET}",
        f"https://hooks.slack.com/services/T/B/{SECRET} with spaces",
        f"http://hooks.slack.com/services/T/B/{SECRET}",  # cleartext off loopback
        f"https://hooks.slack.com:notaport/services/T/B/{SECRET}",
    ],
)
def test_a_malformed_webhook_fails_the_load_naming_the_variable_not_its_value(webhook, monkeypatch):
    monkeypatch.setenv("DAWSOS_SLACK_WEBHOOK_URL", webhook)
    with pytest.raises(DawsosError) as refused:
        load_definitions()
    assert refused.value.code == errors.SLACK_CONFIG_INVALID
    assert "DAWSOS_SLACK_WEBHOOK_URL" in refused.value.one_line() and SECRET not in str(refused.value.to_dict())


def test_a_malformed_webhook_fails_the_sensor_with_its_code_not_its_value(monkeypatch):
    """The run worker or daemon may see another environment than the load did: the sensor refuses the URL too."""
    monkeypatch.setenv("DAWSOS_SLACK_WEBHOOK_URL", f"http://hooks.slack.com/services/T/B/{SECRET}")
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance,
            resources={
                "database": PortfolioDatabase(url="postgresql://postgres@127.0.0.1:1/unused"),
                "slack": SlackAlerts(webhook_url=dg.EnvVar("DAWSOS_SLACK_WEBHOOK_URL")),
            },
        )
        with pytest.raises(DawsosError) as refused:
            slack_alert_retries(context)
    assert refused.value.code == errors.SLACK_CONFIG_INVALID
    assert "DAWSOS_SLACK_WEBHOOK_URL" in refused.value.one_line() and SECRET not in refused.value.one_line()
