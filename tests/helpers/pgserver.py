"""Start and stop a throwaway PostgreSQL server (initdb + pg_ctl) in a temporary directory.

Used by the pytest fixtures and by plain scripts (the benchmark)::

    from tests.helpers.pgserver import postgres_server

    with postgres_server() as pg:
        print(pg.dsn("postgres"))

Run ``python tests/helpers/pgserver.py`` to get a server for manual poking (Ctrl-C stops it).

The binaries are looked up in ``$IDSTITCH_PG_BIN``, then ``pg_config --bindir``, then the newest
``/usr/lib/postgresql/*/bin``. Only the standard library and psycopg2 are needed. When running as root
the server runs as the ``postgres`` OS user (initdb refuses root); otherwise it runs as the current user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUPERUSER = "postgres"
HOST = "127.0.0.1"

# Tuned for a throwaway server on a ~24 GiB, 2-core machine: durability off, generous memory, no JIT
# (JIT compilation costs more than it saves on the small queries dbt and the tests issue).
DEFAULT_SETTINGS: dict[str, str] = {
    "listen_addresses": f"'{HOST}'",
    "max_connections": "50",
    "shared_buffers": "2GB",
    "work_mem": "128MB",
    "maintenance_work_mem": "512MB",
    "effective_cache_size": "12GB",
    "max_worker_processes": "4",
    "max_parallel_workers": "2",
    "max_parallel_workers_per_gather": "2",
    "random_page_cost": "1.1",
    "jit": "off",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "30min",
    "timezone": "'UTC'",
    "log_timezone": "'UTC'",
    "logging_collector": "off",
    "log_min_messages": "warning",
}


class PostgresNotFoundError(RuntimeError):
    """No PostgreSQL server binaries (initdb, pg_ctl, postgres) could be found."""


class PostgresStartError(RuntimeError):
    """initdb or pg_ctl failed; the message carries the server log."""


@dataclass(frozen=True)
class PgServer:
    """A running server: connect with ``host``/``port``/``user`` and no password (trust auth)."""

    host: str
    port: int
    user: str
    bin_dir: Path
    base_dir: Path
    pid: int | None

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres", autocommit: bool = True) -> Any:
        """A psycopg2 connection (autocommit by default)."""
        import psycopg2

        conn = psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname=dbname)
        conn.autocommit = autocommit
        return conn

    def create_database(self, name: str) -> None:
        _check_identifier(name)
        with contextlib.closing(self.connect()) as conn, conn.cursor() as cur:
            cur.execute(f'create database "{name}"')

    def drop_database(self, name: str) -> None:
        _check_identifier(name)
        with contextlib.closing(self.connect()) as conn, conn.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')

    def copy_database(self, template: str, name: str) -> None:
        """(Re)create database ``name`` as a copy of ``template`` (a file copy: fast). Nobody may be
        connected to ``template``; whoever is connected to ``name`` is disconnected."""
        _check_identifier(template)
        self.drop_database(name)
        with contextlib.closing(self.connect()) as conn, conn.cursor() as cur:
            cur.execute(f'create database "{name}" template "{template}"')

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server (``pg_ctl stop -m <mode>``; ``immediate`` is what clients see of a crash or a
        pulled plug: every connection dropped, no shutdown checkpoint). :meth:`start` brings it back."""
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"unknown shutdown mode {mode!r}")
        log = self.base_dir / "server.log"
        pid = _postmaster_pid(self.data_dir)
        _Runner(self.base_dir, chown=False).run(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "-t", "30", "stop"],
            "pg_ctl stop",
            log=log,
        )
        if pid is not None:
            _wait_gone(pid, 10)

    def start(self, timeout: float = 60.0) -> None:
        """Start a stopped server again on the same data directory and port (crash recovery included)."""
        log = self.base_dir / "server.log"
        _Runner(self.base_dir, chown=False).run(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(log), "-o", f"-p {self.port}",
             "-w", "-t", str(int(timeout)), "start"],
            "pg_ctl start",
            log=log,
        )
        _wait_ready(self, timeout)

    def running(self) -> bool:
        pid = _postmaster_pid(self.data_dir)
        return pid is not None and _running(pid)


def _check_identifier(name: str) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"not a safe database name: {name!r}")


def find_bin_dir() -> Path:
    """Directory holding initdb/pg_ctl/postgres.

    Order: ``$IDSTITCH_PG_BIN``, ``pg_config --bindir``, newest ``/usr/lib/postgresql/*/bin``.
    """
    tried: list[str] = []

    def usable(d: Path) -> bool:
        tried.append(str(d))
        return all(
            (d / exe).is_file() and os.access(d / exe, os.X_OK) for exe in ("initdb", "pg_ctl", "postgres")
        )

    env = os.environ.get("IDSTITCH_PG_BIN")
    if env:
        if usable(Path(env)):
            return Path(env)
        raise PostgresNotFoundError(
            f"IDSTITCH_PG_BIN={env} does not contain initdb, pg_ctl and postgres executables."
        )
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip() and usable(Path(out.stdout.strip())):
            return Path(out.stdout.strip())

    def version_key(path: str) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", Path(path).parent.name))

    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version_key, reverse=True):
        if usable(Path(cand)):
            return Path(cand)
    raise PostgresNotFoundError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; tried: "
        + (", ".join(tried) or "nothing")
        + ". Install them (`scripts/ensure_postgres.sh`, i.e. `apt-get install -y postgresql`) "
        "or point IDSTITCH_PG_BIN at their directory."
    )


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class _Runner:
    """Runs server commands as the ``postgres`` OS user when we are root, else as ourselves."""

    def __init__(self, base_dir: Path, chown: bool = True) -> None:
        self.base_dir = base_dir
        self.as_user: str | None = None
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam(SUPERUSER)
            except KeyError as exc:
                raise PostgresStartError(
                    "running as root, and there is no `postgres` OS user to run the server as "
                    "(initdb refuses root). Create one: `useradd --system postgres`."
                ) from exc
            self.as_user = SUPERUSER
            if chown:
                for path in (base_dir, *base_dir.rglob("*")):
                    os.chown(path, pw.pw_uid, pw.pw_gid)

    def run(self, args: list[str], what: str, log: Path | None = None) -> None:
        kwargs: dict[str, Any] = {}
        if self.as_user is not None:
            kwargs["user"] = self.as_user
            kwargs["group"] = pwd.getpwnam(self.as_user).pw_gid
            kwargs["extra_groups"] = []
        env = {**os.environ, "LC_ALL": "C", "LANG": "C", "TZ": "UTC"}  # C always exists; English messages
        # pg_ctl daemonises the postmaster: its output goes to `log`, never to our pipes, so this cannot hang.
        proc = subprocess.run(
            args, cwd=self.base_dir, env=env, capture_output=True, text=True, check=False, **kwargs
        )
        if proc.returncode != 0:
            log_tail = ""
            if log is not None and log.exists():
                log_tail = "\n--- server log ---\n" + "\n".join(
                    log.read_text(errors="replace").splitlines()[-40:]
                )
            raise PostgresStartError(
                f"{what} failed (exit {proc.returncode}): {' '.join(args)}\n"
                f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}{log_tail}"
            )


def _write_conf(data_dir: Path, base_dir: Path, settings: Mapping[str, str]) -> None:
    lines = ["", "# --- idstitch throwaway test server ---"]
    lines += [f"{k} = {v}" for k, v in settings.items()]
    lines.append(f"unix_socket_directories = '{base_dir}'")
    with (data_dir / "postgresql.conf").open("a") as fh:
        fh.write("\n".join(lines) + "\n")


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def _wait_ready(server: PgServer, timeout: float) -> None:
    import psycopg2

    deadline = time.monotonic() + timeout
    while True:
        try:
            with contextlib.closing(server.connect()) as conn, conn.cursor() as cur:
                cur.execute("select 1")
                return
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextlib.contextmanager
def postgres_server(
    settings: Mapping[str, str] | None = None,
    parent_dir: Path | None = None,
    startup_timeout: float = 60.0,
    keep_dir: bool = False,
) -> Iterator[PgServer]:
    """Start a fresh server on a free port of 127.0.0.1; stop it and delete its files on exit.

    The server's files live in a new ``idstitch-pg-*`` directory under ``parent_dir`` (default: the system
    temp dir), which is also its unix socket directory; ``keep_dir`` keeps it (e.g. to read server.log).

    ``settings`` override/extend :data:`DEFAULT_SETTINGS` (values in postgresql.conf syntax, e.g. ``"'UTC'"``).
    """
    bin_dir = find_bin_dir()
    base = Path(tempfile.mkdtemp(prefix="idstitch-pg-", dir=parent_dir)).resolve()
    os.chmod(base, 0o755)
    data_dir = base / "data"
    log = base / "server.log"
    started = False
    try:
        log.touch()
        runner = _Runner(base)
        initdb = [
            str(bin_dir / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
            "--no-instructions",
            "--locale=C",
        ]
        # Byte-order collation (like DuckDB) for deterministic ordering; a UTF-8 ctype so lower() folds
        # non-ASCII letters like DuckDB does. Fall back to plain C where no C.UTF-8 locale exists.
        try:
            runner.run([*initdb, "--lc-ctype=C.UTF-8"], "initdb")
        except PostgresStartError:
            shutil.rmtree(data_dir, ignore_errors=True)
            runner.run(initdb, "initdb")
        _write_conf(data_dir, base, {**DEFAULT_SETTINGS, **(settings or {})})
        last_error: PostgresStartError | None = None
        for _attempt in range(5):  # the free port may be taken between probing and binding: retry
            port = free_port()
            try:
                runner.run(
                    [
                        str(bin_dir / "pg_ctl"),
                        "-D",
                        str(data_dir),
                        "-l",
                        str(log),
                        "-o",
                        f"-p {port}",
                        "-w",
                        "-t",
                        str(int(startup_timeout)),
                        "start",
                    ],
                    "pg_ctl start",
                    log=log,
                )
            except PostgresStartError as exc:
                last_error = exc
                continue
            started = True
            break
        if not started:
            assert last_error is not None
            raise last_error
        pid = _postmaster_pid(data_dir)
        server = PgServer(host=HOST, port=port, user=SUPERUSER, bin_dir=bin_dir, base_dir=base, pid=pid)
        _wait_ready(server, startup_timeout)
        yield server
    finally:
        try:
            if started or _postmaster_pid(data_dir) is not None:
                _stop(bin_dir, data_dir, base, log)
        finally:
            if not keep_dir:
                shutil.rmtree(base, ignore_errors=True)


def _stop(bin_dir: Path, data_dir: Path, base: Path, log: Path) -> None:
    pid = _postmaster_pid(data_dir)
    try:
        _Runner(base, chown=False).run(
            [str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "-t", "30", "stop"],
            "pg_ctl stop",
            log=log,
        )
    except PostgresStartError:
        if pid is not None:  # last resort: take the postmaster (and with it its children) down hard
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGQUIT)
            _wait_gone(pid, 10, reaped=False)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    if pid is not None:
        # pg_ctl returns once the pid file is gone; the postmaster (reparented to init) may still be
        # exiting. Wait for it to be reaped so callers really see no server process afterwards.
        _wait_gone(pid, 5)
        if _running(pid):
            raise PostgresStartError(f"postmaster {pid} of {data_dir} is still running after shutdown")


def _running(pid: int) -> bool:
    """True while the process exists and is not a zombie (zombies are reaped by init, not by us)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _wait_gone(pid: int, timeout: float, reaped: bool = True) -> None:
    """Wait until the process has exited (``reaped``: and is gone from the process table)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (Path(f"/proc/{pid}").exists() if reaped else _running(pid)):
        time.sleep(0.05)


def main() -> None:
    """Start a server and keep it up until interrupted (for manual use)."""
    with postgres_server() as pg:
        print(f"postgres running: {pg.url()}  (psql -h {pg.host} -p {pg.port} -U {pg.user})", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
