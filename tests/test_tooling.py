"""Dagster's standard tooling works on this project: `dg` (dagster-dg-cli) finds the code location through
pyproject.toml's [tool.dg] and loads the same definitions as workspace.yaml."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from .conftest import PROJECT_ROOT, run_cli

DG = str(Path(sys.executable).parent / "dg")


def dg(*args: str) -> subprocess.CompletedProcess:
    """`dg` as someone with the project's virtualenv activated runs it."""
    env = {
        **os.environ,
        "VIRTUAL_ENV": sys.prefix,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    return subprocess.run([DG, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_dg_checks_and_lists_the_definitions():
    check = dg("check", "defs")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "All definitions loaded successfully" in check.stdout + check.stderr
    listed = dg("list", "defs", "--json")
    assert listed.returncode == 0, listed.stderr
    definitions = json.loads(listed.stdout)
    assert "tables_and_checks" in {job["name"] for job in definitions["jobs"]}
    assert {"check_alerts_after_success", "check_alerts_after_failure"} <= {s["name"] for s in definitions["sensors"]}
    assert "warning" not in (check.stderr + listed.stderr).lower()


def test_the_plain_dagster_cli_finds_the_projects_instance(seeded_url):
    """`eval "$(dawsos dagster-env)"` sets DAGSTER_HOME and the storage URL its dagster.yaml reads."""
    exported = run_cli("dagster-env")
    assert exported.returncode == 0, exported.stderr
    env = dict(line.removeprefix("export ").split("=", 1) for line in exported.stdout.splitlines())
    env = {name: shlex.split(value)[0] for name, value in env.items()}
    assert Path(env["DAGSTER_HOME"], "dagster.yaml").is_file()
    info = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "instance", "info"],
        cwd="/",
        text=True,
        capture_output=True,
        env={**os.environ, **env},
        timeout=300,
    )
    assert info.returncode == 0, info.stderr
    assert "run_storage: PooledPostgresRunStorage" in info.stdout  # the project's pooled storage, from dagster.yaml
