"""A throwaway PostgreSQL server for the tests that need one (warehouse SQL, the ledger).

`start_server()` runs initdb and pg_ctl (as the `postgres` user when the tests
run as root, since initdb refuses root) on a Unix socket in a temp directory
and returns a `Server`; `Server.stop()` removes it. The conftest fixture
`postgres_server` starts one per test session. When PostgreSQL cannot be
started, the tests that need it are skipped with the reason (a *service
skip*: under CI that should fail instead, see RATECARD_CI).
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


class Unavailable(Exception):
    """PostgreSQL cannot be started here: the message says why."""


def pg_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / "pg_ctl").exists():
            return base
    return None


@dataclass
class Server:
    root: Path  # the socket directory
    port: str
    bindir: Path
    as_user: list[str]
    psql_path: str
    _names: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def psql(self) -> list[str]:
        """psql on the `postgres` database: a command prefix."""
        return [self.psql_path, "-h", str(self.root), "-p", self.port, "-U", "postgres", "-d", "postgres",
                "-v", "ON_ERROR_STOP=1", "-q"]

    def url(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={self.root}&port={self.port}"

    def new_database(self, prefix: str = "ledger") -> str:
        """A fresh, empty database: its URL."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        subprocess.run(self.psql + ["-c", f'CREATE DATABASE "{name}"'], check=True, capture_output=True)
        return self.url(name)

    def stop(self) -> None:
        subprocess.run(self.as_user + [str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m",
                                       "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def start_server() -> Server:
    bindir, psql = pg_bin(), shutil.which("psql")
    if bindir is None or psql is None:
        raise Unavailable("PostgreSQL (initdb, pg_ctl, psql) is not installed")
    root = Path(tempfile.mkdtemp(prefix="ratecard-pg-"))
    as_user: list[str] = []
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # initdb refuses to run as root
        if shutil.which("runuser") is None:
            raise Unavailable("running as root without runuser: cannot start PostgreSQL")
        import pwd

        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            raise Unavailable("running as root and there is no `postgres` user to start PostgreSQL") from None
        os.chown(root, user.pw_uid, user.pw_gid)
        root.chmod(0o755)
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    data = root / "data"
    try:
        subprocess.run(as_user + [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
                       check=True, capture_output=True, timeout=120)
        subprocess.run(as_user + [str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "log"),
                                  "-o", f"-k {root} -p {port} -c listen_addresses=''", "start"],
                       check=True, capture_output=True, timeout=120)
    except (subprocess.SubprocessError, OSError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise Unavailable(f"cannot start PostgreSQL: {exc}") from None
    return Server(root, port, bindir, as_user, psql)
