"""Test fixtures: a real PostgreSQL (the embedded server in a temporary home, or DAWSOS_DATABASE_URL's server),
one database per test cloned from seeded templates, and helpers to run the CLI.

Every test database belongs to a role without superuser rights, and tests work as that role: managed PostgreSQL
(RDS, Cloud SQL, Neon, Supabase) gives no superuser, so the migrations must run as the owner of the tables."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import tqdm

from dawsos_assets.database import connection
from dawsos_assets.database.legacy import LegacyVariant
from dawsos_assets.database.server import EmbeddedPostgres

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DAWSOS = str(Path(sys.executable).parent / "dawsos")


SERVER_FIXTURES = {"server_admin_url", "reachable_home"}
# tqdm starts a monitor thread with its first progress bar (Great Expectations' metric calculation makes one) and keeps
# it for the life of the process; a run started in a process with another thread runs its steps in that process
# (operations/executors.py), so the tests that check forked steps need the session without it.
tqdm.tqdm.monitor_interval = 0


def pytest_collection_modifyitems(items):
    """A test that needs a PostgreSQL server is slow (`make test-fast` leaves it out): starting the session's server
    and seeding its template databases alone takes longer than the whole fast suite."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def server_admin_url() -> str:
    """URL of the maintenance database of the test server. Never the developer's own .dawsos data."""
    external = os.environ.get(connection.URL_ENV)
    if external:
        return connection.database_url("postgres")
    # Not under pytest's tmp_path: its parent is 0700, and the server user must pass through to the data.
    home = Path(tempfile.mkdtemp(prefix="dawsos-test-home-"))
    os.environ["DAWSOS_HOME"] = str(home)
    server = EmbeddedPostgres(home)
    yield server.url("postgres")  # carries ?passfile=: the password stays in the home's 0600 file
    server.stop()
    shutil.rmtree(home, ignore_errors=True)


OWNER_ROLE = "dawsos_owner"
APP_ROLE, APP_PASSWORD = "dawsos_app", "dawsos_app_pass"  # DawsOS's own 000_roles.sql role and password


def _ensure_roles(admin_url: str) -> str:
    """The table owner (no superuser, no CREATEDB/CREATEROLE) and DawsOS's application role, as an administrator
    of a managed server would create them; returns the owner's password for this session."""
    password = secrets.token_urlsafe(18)
    with connection.connect(admin_url, autocommit=True) as conn:
        for role, role_password in ((OWNER_ROLE, password), (APP_ROLE, APP_PASSWORD)):
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(f"{verb} ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{role_password}'")
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (connection.DAGSTER_DATABASE,)).fetchone():
            conn.execute(f'CREATE DATABASE "{connection.DAGSTER_DATABASE}" OWNER {OWNER_ROLE}')  # Dagster's storage
    return password


def _create_database(admin_url: str, name: str, template: str | None = None, owner: str | None = None) -> str:
    with connection.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            f'CREATE DATABASE "{name}"'
            + (f' TEMPLATE "{template}"' if template else "")
            + (f" OWNER {owner}" if owner else "")
        )
    return connection._parse(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop_database(admin_url: str, name: str) -> None:
    with connection.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Databases:
    """Creates databases on the test server, owned by a non-superuser role; URLs connect as that role. Seeded
    ones are cloned from one template per variant or real state."""

    def __init__(self, admin_url: str):
        self.admin_url = admin_url
        self.owner_password = _ensure_roles(admin_url)
        self.templates: dict[object, str] = {}
        self.created: list[str] = []

    def owner_url(self, name: str) -> str:
        return (
            connection._parse(self.admin_url)
            .set(database=name, username=OWNER_ROLE, password=self.owner_password)
            .render_as_string(hide_password=False)
        )

    def app_url(self, url: str) -> str:
        """The same database as DawsOS's application role."""
        return (
            connection._parse(url).set(username=APP_ROLE, password=APP_PASSWORD).render_as_string(hide_password=False)
        )

    def _new(self, template: str | None = None) -> str:
        name = f"test_{uuid.uuid4().hex[:12]}"
        self.created.append(name)
        _create_database(self.admin_url, name, template=template, owner=OWNER_ROLE)
        return self.owner_url(name)

    def empty(self) -> str:
        return self._new()

    def _template(self, key, build, base: str | None = None) -> str:
        """A clone of the template `key`, which `build(url)` makes once (on a clone of template `base`, if given)."""
        if key not in self.templates:
            url = self._new(template=base)
            build(url)
            self.templates[key] = connection._parse(url).database
        return self._new(template=self.templates[key])

    def seeded(self, variant: LegacyVariant = LegacyVariant()) -> str:
        from dawsos_assets.database.seed.loader import SeedOptions, seed_database

        def build(url):
            with connection.connect(url) as conn:
                seed_database(conn, SeedOptions(variant=variant, progress=False))

        return self._template(variant, build)

    def migrated(self, variant: LegacyVariant = LegacyVariant()) -> str:
        """A demo database with every migration applied and the provider feeds loaded (what the patterns read)."""
        from dawsos_assets.database.seed.loader import load_provider_data
        from dawsos_assets.migrations.runner import MigrationRunner

        def build(url):
            MigrationRunner(url, backup=False).apply()
            with connection.connect(url) as conn:
                load_provider_data(conn)

        self.seeded(variant)
        return self._template(("migrated", variant), build, base=self.templates[variant])

    def real(self, state: str) -> str:
        """A database built from DawsOS's own SQL files in a real state (plan, nov4, nov8), demo data on top."""
        from .real_states import build_real_state

        return self._template(("real", state), lambda url: build_real_state(url, state))

    def drop_all(self) -> None:
        for name in self.created:
            _drop_database(self.admin_url, name)


@pytest.fixture(scope="session")
def databases(server_admin_url):
    registry = Databases(server_admin_url)
    yield registry
    registry.drop_all()


@pytest.fixture
def seeded_url(databases, monkeypatch) -> str:
    """A freshly cloned legacy demo database; DAWSOS_DATABASE_URL points at it for the test."""
    url = databases.seeded()
    monkeypatch.setenv(connection.URL_ENV, url)
    return url


@pytest.fixture
def empty_url(databases, monkeypatch) -> str:
    url = databases.empty()
    monkeypatch.setenv(connection.URL_ENV, url)
    return url


def run_cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [DAWSOS, *args], capture_output=True, text=True, env=full_env, timeout=timeout, cwd=PROJECT_ROOT
    )


@pytest.fixture
def migrated_url(databases, monkeypatch) -> str:
    """A demo database after every migration, with the provider feeds the patterns read."""
    url = databases.migrated()
    monkeypatch.setenv(connection.URL_ENV, url)
    return url


@pytest.fixture
def reachable_home():
    """A fresh DAWSOS_HOME for a second embedded server, where its unprivileged user can reach it (not tmp_path)."""
    home = Path(tempfile.mkdtemp(prefix="dawsos-home-"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


def wait_for(probe, what: str, timeout: float = 240, interval: float = 3.0):
    """Polls `probe` every `interval` seconds until it returns something truthy, which is returned; fails naming
    `what` after `timeout` seconds (the daemon's sensors tick every 30-60 s, a forked run ends within seconds).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(interval)
    raise AssertionError(f"{what}: not seen within {timeout} s")
