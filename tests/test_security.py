"""Who can reach the embedded server, where its secrets live, and what the project may change on this machine
(issue 10, items 1-3). Most of this is about other local users, so the checks that need a second account run as root."""

import os
import pwd
import stat
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest
import yaml

from dawsos_assets import errors
from dawsos_assets.database import connection
from dawsos_assets.database.server import SERVER_USER, EmbeddedPostgres, _free_port, home_dir, postgres_binary
from dawsos_assets.errors import DawsosError
from dawsos_assets.operations.instance import STORAGE_URL_ENV, prepare_instance

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="a second local account (nobody) needs root to switch to")
embedded = pytest.mark.skipif(
    bool(os.environ.get(connection.URL_ENV)), reason="DAWSOS_DATABASE_URL: no embedded server"
)
NOBODY = pwd.getpwnam("nobody")


def session_server() -> EmbeddedPostgres:
    return EmbeddedPostgres(Path(os.environ["DAWSOS_HOME"]))


def as_nobody(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        list(args),
        user=NOBODY.pw_uid,
        group=NOBODY.pw_gid,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "HOME": "/"},
    )


def password_of(server: EmbeddedPostgres) -> str:
    return server.passfile.read_text().strip().split(":")[-1]


@as_root
@embedded
def test_another_local_user_cannot_log_in(server_admin_url):
    server = session_server()
    port = server.status().port
    without_password = as_nobody(
        postgres_binary("psql"), "-w", f"postgresql://postgres@127.0.0.1:{port}/postgres", "-Atc", "SELECT 1"
    )
    assert without_password.returncode != 0 and "password" in without_password.stderr, without_password.stdout
    with_our_url = as_nobody(postgres_binary("psql"), "-w", server_admin_url, "-Atc", "SELECT 1")
    assert with_our_url.returncode != 0  # the passfile is ours alone
    assert stat.S_IMODE(server.passfile.stat().st_mode) == 0o600
    assert as_nobody("cat", str(server.passfile)).returncode != 0


@as_root
@embedded
def test_server_programs_run_in_the_server_users_own_group_only(server_admin_url):
    account = pwd.getpwnam(SERVER_USER)
    with psycopg.connect(server_admin_url, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE ids (line text)")
        conn.execute("COPY ids FROM PROGRAM 'id -u; id -G'")  # what COPY … TO PROGRAM would run as
        uid, groups = [line for (line,) in conn.execute("SELECT line FROM ids")]
    assert int(uid) == account.pw_uid
    assert groups.split() == [str(account.pw_gid)]


@embedded
def test_the_password_is_on_no_command_line_in_no_environment_and_in_no_log(server_admin_url):
    server = session_server()
    password = password_of(server)
    assert len(password) >= 32 and password not in server_admin_url
    exposed = []  # what `ps` shows anyone, and what each process was started with
    for proc in Path("/proc").glob("[0-9]*"):
        for view in ("cmdline", "environ"):
            try:
                exposed.append((proc / view).read_bytes().decode(errors="replace"))
            except OSError:  # processes end while we read; without root, others' environ is closed anyway
                continue
    assert exposed and not any(password in text for text in exposed)
    assert password not in server.log_file.read_text()


@embedded
def test_a_cluster_created_with_trust_is_secured_and_keeps_its_data(reachable_home):
    server = EmbeddedPostgres(reachable_home)
    port = _free_port()
    try:
        # What an earlier version left behind: a trust cluster, running, holding data.
        server._prepare_filesystem()
        server._initdb()
        started = server._run_as_server_user(
            [
                postgres_binary("pg_ctl"),
                "-D",
                str(server.pgdata),
                "-l",
                str(server.log_file),
                "-w",
                "-o",
                f"-p {port}",
                "start",
            ]
        )
        assert started.returncode == 0, started.stderr
        server._write_port(port)
        trusted = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        with psycopg.connect(trusted, autocommit=True, passfile=os.devnull) as conn:
            conn.execute("CREATE TABLE kept AS SELECT 42 AS answer")

        assert server.start() == port
        with psycopg.connect(server.url("postgres")) as conn:
            assert conn.execute("SELECT answer FROM kept").fetchone()[0] == 42
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(trusted, passfile=os.devnull, connect_timeout=5).close()
    finally:
        server.stop()


@as_root
def test_an_unreachable_home_is_a_coded_error_and_nothing_outside_it_changes():
    closed = Path(tempfile.mkdtemp(prefix="dawsos-closed-"))  # 0700 root: the server user cannot pass
    try:
        before = {p: p.stat().st_mode for p in (closed, *closed.parents)}
        with pytest.raises(DawsosError) as raised:
            EmbeddedPostgres(closed / "home").start()
        assert raised.value.code == errors.EMBEDDED_HOME_UNREACHABLE
        assert str(closed) in raised.value.message and "DAWSOS_HOME" in raised.value.suggestion
        assert {p: p.stat().st_mode for p in before} == before
    finally:
        subprocess.run(["rm", "-rf", str(closed)], check=True)


def test_a_folder_holding_other_files_is_not_taken_over(monkeypatch, reachable_home):
    (reachable_home / "backups").mkdir()  # a name we use, as in /var: not enough to take the folder over
    (reachable_home / "someone-elses.txt").write_text("not ours")
    reachable_home.chmod(0o755)
    monkeypatch.setenv("DAWSOS_HOME", str(reachable_home))
    with pytest.raises(DawsosError) as raised:
        home_dir()
    assert raised.value.code == errors.HOME_NOT_OWN_FOLDER
    assert stat.S_IMODE(reachable_home.stat().st_mode) == 0o755


@embedded
def test_state_folder_and_its_secrets_are_private(server_admin_url, seeded_url, monkeypatch):
    server = session_server()
    home = server.home
    assert stat.S_IMODE(home.stat().st_mode) & 0o007 == 0  # nobody else may even pass through
    assert stat.S_IMODE(server.passfile.stat().st_mode) == 0o600
    for folder in ("backups", "reports", "dagster"):
        assert stat.S_IMODE((home / folder).stat().st_mode) == 0o700

    # DAWSOS_DATABASE_URL may carry a password (the test database's owner's): dagster.yaml names it through the
    # environment only.
    password = connection._parse(seeded_url).password
    assert password
    monkeypatch.setenv(connection.URL_ENV, seeded_url)
    for name in (STORAGE_URL_ENV, "DAGSTER_HOME"):  # set by prepare_instance(); restored after the test
        monkeypatch.setenv(name, "")
    instance_home = prepare_instance()
    config_file = instance_home / "dagster.yaml"
    assert password not in config_file.read_text()
    assert yaml.safe_load(config_file.read_text())["storage"]["custom"]["config"]["postgres_url"] == {
        "env": STORAGE_URL_ENV
    }
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600

    import dagster as dg

    with dg.DagsterInstance.get() as instance:  # the URL arrives through the environment and works
        assert instance.get_runs_count() >= 0
