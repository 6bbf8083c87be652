"""Test fixtures: a real PostgreSQL (the embedded server in a temporary home, or DAWSOS_DATABASE_URL's server),
one database per test cloned from seeded templates, and helpers to run the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from dawsos_assets.database import connection
from dawsos_assets.database.legacy import LegacyVariant
from dawsos_assets.database.server import EmbeddedPostgres

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DAWSOS = str(Path(sys.executable).parent / "dawsos")


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


def _create_database(admin_url: str, name: str, template: str | None = None) -> str:
    with connection.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return connection._parse(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop_database(admin_url: str, name: str) -> None:
    with connection.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Databases:
    """Creates databases on the test server; seeded ones are cloned from one template per variant."""

    def __init__(self, admin_url: str):
        self.admin_url = admin_url
        self.templates: dict[LegacyVariant, str] = {}
        self.created: list[str] = []

    def empty(self) -> str:
        name = f"test_{uuid.uuid4().hex[:12]}"
        self.created.append(name)
        return _create_database(self.admin_url, name)

    def seeded(self, variant: LegacyVariant = LegacyVariant()) -> str:
        if variant not in self.templates:
            from dawsos_assets.database.seed.loader import SeedOptions, seed_database

            url = self.empty()
            with connection.connect(url) as conn:
                seed_database(conn, SeedOptions(variant=variant, progress=False))
            self.templates[variant] = connection._parse(url).database
        name = f"test_{uuid.uuid4().hex[:12]}"
        self.created.append(name)
        return _create_database(self.admin_url, name, template=self.templates[variant])

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
    return subprocess.run([DAWSOS, *args], capture_output=True, text=True, env=full_env, timeout=timeout,
                          cwd=PROJECT_ROOT)


@pytest.fixture
def reachable_home():
    """A fresh DAWSOS_HOME for a second embedded server, where its unprivileged user can reach it (not tmp_path)."""
    home = Path(tempfile.mkdtemp(prefix="dawsos-home-"))
    yield home
    shutil.rmtree(home, ignore_errors=True)
