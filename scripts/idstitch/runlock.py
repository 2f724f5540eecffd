"""The run lock ``idstitch run`` holds for the whole build, so two runs on one target never interleave.

* Postgres: a session advisory lock on a connection of our own, held until the build ends. The server
  drops it the moment this process dies (a kill, a crash), so a killed run never blocks the next one.
  dbt's ``on-run-start`` (macros/incremental/run_log.sql) is told who holds it (``IDSTITCH_RUN_HOLDER``:
  this session's pid and start time), logs it in the run log, and other runs — plain ``dbt build``
  included — check that session to tell a live run from a dead one.
* DuckDB: the database file itself, opened here for the whole build: DuckDB lets one process write a
  file, so a second process cannot open it at all (dbt-duckdb in this process shares our database).

A second ``idstitch run`` stops with :class:`RunLockBusy` (exit 2) naming the run that holds the lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .errors import IdstitchError, one_line
from .runner import Connection

HOLDER_ENV = "IDSTITCH_RUN_HOLDER"  # read by idstitch.run_holder() in the dbt project
LOCK_NAMESPACE = 0x1D57  # first key of the two-key advisory lock; the second names the target


class RunLockBusy(IdstitchError):
    """Another run holds the lock of this target."""


@dataclass
class RunLock:
    """A held run lock; ``env`` goes into dbt's environment for the build."""

    target: str
    description: str
    handle: Any
    env: dict[str, str]

    def release(self) -> None:
        """Give the lock back (closing our session or database handle). Never raises: after a lost
        connection (server gone) there is nothing left to release."""
        handle, self.handle = self.handle, None
        if handle is not None:
            with contextlib.suppress(Exception):
                handle.close()


def holder_description() -> str:
    return f"idstitch run (pid {os.getpid()} on {socket.gethostname()})"


def acquire(conn: Connection) -> RunLock:
    """Take the run lock of ``conn``'s target, or raise :class:`RunLockBusy` / :class:`IdstitchError`."""
    description = holder_description()
    if conn.type == "postgres":
        return _acquire_postgres(conn, description)
    if conn.type == "duckdb":
        return _acquire_duckdb(conn, description)
    # other engines: no lock of ours (dbt's on-run-start still logs the run)
    return RunLock(conn.target_name, description, None, {HOLDER_ENV: json.dumps({"description": description})})


@contextlib.contextmanager
def held(conn: Connection) -> Iterator[RunLock]:
    lock = acquire(conn)
    try:
        yield lock
    finally:
        lock.release()


def _target_key(conn: Connection) -> str:
    return f"{conn.database}.{conn.schema}"


def _acquire_postgres(conn: Connection, description: str) -> RunLock:
    import psycopg2

    from .db import _open_postgres

    handle = _open_postgres(conn)
    try:
        with handle.cursor() as cur:
            cur.execute("set application_name = %s", (description[:63],))
            cur.execute("select pg_try_advisory_lock(%s, hashtext(%s))", (LOCK_NAMESPACE, _target_key(conn)))
            (got,) = cur.fetchone()
            if not got:
                cur.execute(
                    "select activity.application_name, activity.client_addr, activity.backend_start"
                    " from pg_locks as locks join pg_stat_activity as activity on activity.pid = locks.pid"
                    " where locks.locktype = 'advisory' and locks.granted and locks.objsubid = 2"
                    " and locks.classid::bigint = %s and locks.objid::bigint = (hashtext(%s)::bigint & 4294967295)",
                    (LOCK_NAMESPACE, _target_key(conn)),
                )
                row = cur.fetchone()
                who = "another idstitch run"
                if row is not None:
                    name, addr, since = row
                    who = f"{name or 'another idstitch run'}{f' from {addr}' if addr else ''}"
                    if isinstance(since, dt.datetime):
                        who += f", since {since.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC"
                raise RunLockBusy(
                    f"another run is building target {conn.target_name!r} ({conn.describe()}, schema "
                    f"{conn.schema}): {who}. It holds the run lock until it ends; run again then"
                )
            cur.execute(
                "select pg_backend_pid(), to_char(backend_start at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
                " from pg_stat_activity where pid = pg_backend_pid()"
            )
            pid, backend_start = cur.fetchone()
    except psycopg2.Error as exc:
        with contextlib.suppress(Exception):
            handle.close()
        raise IdstitchError(f"cannot take the run lock on {conn.describe()}: {one_line(exc)}") from None
    except BaseException:
        with contextlib.suppress(Exception):
            handle.close()
        raise
    holder = {"description": description, "pid": int(pid), "backend_start": str(backend_start)}
    return RunLock(conn.target_name, description, handle, {HOLDER_ENV: json.dumps(holder)})


def _acquire_duckdb(conn: Connection, description: str) -> RunLock:
    import duckdb

    path = str(getattr(conn.credentials, "path", "") or "")
    if not path or path == ":memory:" or path.startswith("md:"):  # nothing shared to protect
        return RunLock(conn.target_name, description, None, {HOLDER_ENV: json.dumps({"description": description})})
    try:
        handle = duckdb.connect(path)
    except duckdb.Error as exc:
        text = one_line(exc)
        if "lock" in text.lower():
            pid = re.search(r"PID (\d+)", text)
            who = f"process {pid.group(1)}" if pid else "another process"
            raise RunLockBusy(
                f"the DuckDB file {path} is in use by {who} (another idstitch run or dbt build, or a client "
                "holding it open): DuckDB lets one process write a file at a time; run again when it is free"
            ) from None
        raise IdstitchError(f"cannot open {path}: {text}") from None
    return RunLock(conn.target_name, description, handle, {HOLDER_ENV: json.dumps({"description": description})})
