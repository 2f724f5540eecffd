"""dbt runs that can be killed at a chosen point, cheaply: one process imports dbt and parses the project
once, then runs every dbt command in a forked child (``dbtRunner`` with the parsed manifest).

A child is killed with SIGKILL — a real kill, nothing cleans up — the moment dbt reports the chosen point:
a node starting (``NodeStart``) or a line the package logs (the closure's ``round 1`` line). The child
kills itself from dbt's event callback, so the kill point is exact, not a polling race. Forking skips the
~3 s of importing dbt and the ~2 s of parsing that a ``dbt`` subprocess pays on every call, which is
what makes killing a run at every model affordable.

    with ForkedDbt(wh, vars={"idstitch__lookback_hours": 24}) as dbt:
        clean = dbt.run("run")                              # RunResult: returncode, started nodes, log lines
        killed = dbt.run("run", kill_at=KillAt(node="int_idstitch__messages"))
        assert killed.killed

A run can also be paused at such a point (``pause_at``) while the caller does something to the warehouse
(``on_pause``), then resumed.

The manifest is parsed for the warehouse's profile and the given vars: every command must use the same
vars (they are added to each command) and the same project. Run ``python -m helpers.forked_dbt`` only
through :class:`ForkedDbt`.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typing_extensions import Self

from .warehouse import Warehouse

HELPERS_PARENT = Path(__file__).resolve().parents[1]  # tests/, so `helpers` imports in the server
SCRIPTS_DIR = HELPERS_PARENT.parent / "scripts"  # this checkout's `idstitch` package, whatever is installed


@dataclass(frozen=True)
class KillAt:
    """Where to kill a run: when ``node`` (a node name, e.g. a model) starts, or when a logged line
    contains ``log`` (e.g. ``"idstitch closure user_groups: round 1:"``)."""

    node: str | None = None
    log: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"node": self.node, "log": self.log}

    def __str__(self) -> str:
        return f"start of {self.node}" if self.node else f"log line {self.log!r}"


@dataclass
class RunResult:
    """What a forked dbt command did before it ended (or was killed)."""

    args: list[str]
    returncode: int | None  # exit code, None when killed
    killed: bool
    started: list[str] = field(default_factory=list)  # node names in start order
    finished: dict[str, str] = field(default_factory=dict)  # node name -> status
    messages: dict[str, str] = field(default_factory=dict)  # node name -> message, for nodes not ok
    logs: list[str] = field(default_factory=list)  # lines the project logged (log(..., info=True))
    error: str = ""  # the exception dbt raised, if any

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def __str__(self) -> str:
        status = "killed" if self.killed else f"exit {self.returncode}"
        failed = {n: s for n, s in self.finished.items() if s not in ("success", "pass", "skipped")}
        return f"dbt {' '.join(self.args)}: {status}; started {len(self.started)} nodes; not ok: {failed} {self.error}"


class ForkedDbt:
    """A server process that forks one child per dbt command (see the module docstring)."""

    def __init__(self, wh: Warehouse, vars: Mapping[str, Any] | None = None) -> None:
        self.wh = wh
        self.vars = dict(vars or {})
        path = [str(SCRIPTS_DIR), str(HELPERS_PARENT), os.environ.get("PYTHONPATH", "")]
        env = {**wh.dbt_env(), "PYTHONPATH": os.pathsep.join(p for p in path if p)}
        self._log = (wh.base_dir / "forked_dbt.log").open("ab")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "helpers.forked_dbt"],
            cwd=str(wh.project_dir),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        reply = self._ask({"parse": self._vars_args()})
        if not reply.get("ok"):
            self.close()
            raise RuntimeError(f"dbt parse failed in the fork server: {reply.get('error')}")

    def _vars_args(self) -> list[str]:
        return ["--vars", json.dumps(self.vars)] if self.vars else []

    def _send(self, request: dict[str, Any]) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()

    def _reply(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the dbt fork server died (exit {self._proc.poll()})")
        return dict(json.loads(line))

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        self._send(request)
        return self._reply()

    def run(
        self,
        *args: str,
        kill_at: KillAt | None = None,
        hold_lock: bool = False,
        pause_at: KillAt | None = None,
        on_pause: Callable[[], None] | None = None,
        timeout: float = 600,
    ) -> RunResult:
        """``dbt <args>`` in a forked child; with ``kill_at`` the child is SIGKILLed at that point (if the
        run gets there: ``killed`` says whether it did). With ``hold_lock`` the child first takes the run
        lock the way ``idstitch run`` does (idstitch.runlock), so a killed child's lock dies with it. With
        ``pause_at`` the child waits at that point until ``on_pause`` (called here) has returned."""
        argv = [*args, *self._vars_args()]
        request: dict[str, Any] = {"run": argv, "kill": kill_at.to_json() if kill_at else None, "hold_lock": hold_lock}
        if pause_at is None:
            reply = self._ask(request)
        else:
            with tempfile.TemporaryDirectory() as pause_dir:
                self._send({**request, "pause": {**pause_at.to_json(), "dir": pause_dir}})
                paused, resume = Path(pause_dir) / "paused", Path(pause_dir) / "resume"
                assert self._proc.stdout is not None
                deadline = time.monotonic() + timeout
                while not paused.exists() and time.monotonic() < deadline:
                    if select.select([self._proc.stdout], [], [], 0.05)[0]:  # ended without pausing
                        break
                if paused.exists():
                    try:
                        if on_pause is not None:
                            on_pause()
                    finally:
                        resume.touch()
                reply = self._reply()
        return RunResult(
            args=list(args),
            returncode=reply["returncode"],
            killed=bool(reply["killed"]),
            started=list(reply["started"]),
            finished=dict(reply["finished"]),
            messages=dict(reply["messages"]),
            logs=list(reply["logs"]),
            error=str(reply.get("error") or ""),
        )

    def close(self) -> None:
        if self._proc.poll() is None:
            with contextlib.suppress(Exception):
                assert self._proc.stdin is not None
                self._proc.stdin.close()
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------- the server


def _at(point: Mapping[str, Any] | None, node: str | None = None, message: str | None = None) -> bool:
    if not point:
        return False
    if node is not None:
        return point.get("node") == node
    return bool(point.get("log")) and message is not None and point["log"] in message


def _child(
    manifest: Any,
    argv: Sequence[str],
    kill: Mapping[str, Any] | None,
    pause: Mapping[str, Any] | None,
    hold_lock: bool,
    events_path: str,
) -> None:
    """In the forked child: run dbt, append events to ``events_path``, kill ourselves at the kill point
    (pause at the pause point until the parent says resume)."""
    from dbt.cli.main import dbtRunner

    events = open(events_path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed by os._exit

    def record(kind: str, **data: Any) -> None:
        events.write(json.dumps({"kind": kind, **data}) + "\n")
        events.flush()

    def reached(node: str | None = None, message: str | None = None) -> None:
        if _at(kill, node, message):
            record("killed")
            os.kill(os.getpid(), signal.SIGKILL)
        if pause and _at(pause, node, message):
            Path(pause["dir"], "paused").touch()
            while not Path(pause["dir"], "resume").exists():
                time.sleep(0.05)

    def callback(event: Any) -> None:
        name = event.info.name
        if name == "NodeStart":
            node = event.data.node_info.node_name
            record("start", node=node)
            reached(node=node)
        elif name == "NodeFinished":
            result = event.data.run_result
            record("finished", node=event.data.node_info.node_name, status=str(result.status),
                   message=str(result.message or ""))
        elif name == "JinjaLogInfo":
            message = str(event.data.msg)
            record("log", message=message)
            reached(message=message)

    try:
        if hold_lock:
            from idstitch import runlock
            from idstitch.runner import DbtContext, load_connection

            lock = runlock.acquire(load_connection(DbtContext.resolve()))
            os.environ.update(lock.env)
        quiet = ["--log-level", "none", "--log-level-file", "debug"]  # nothing on stdout, all in logs/dbt.log
        result = dbtRunner(manifest=manifest, callbacks=[callback]).invoke([*argv, *quiet])
        if result.exception is not None:
            record("error", message=str(result.exception))
        code = 0 if result.success else (2 if result.exception is not None else 1)
    except BaseException as exc:  # report anything; never return into the server's loop
        record("error", message=f"{type(exc).__name__}: {exc}")
        code = 2
    events.flush()
    os._exit(code)


def _serve() -> None:
    from dbt.cli.main import dbtRunner

    # replies go to the real stdout; anything dbt prints goes to stderr (the log file)
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    manifest: Any = None
    for line in sys.stdin:
        request = json.loads(line)
        if "parse" in request:
            result = dbtRunner().invoke(["parse", *request["parse"], "--log-level", "none"])
            manifest = result.result if result.success else None
            _release_duckdb()
            reply: dict[str, Any] = {"ok": manifest is not None, "error": str(result.exception or "")}
        else:
            with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as fh:
                events_path = fh.name
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(manifest, request["run"], request.get("kill"), request.get("pause"),
                       bool(request.get("hold_lock")), events_path)
            _, status = os.waitpid(pid, 0)
            reply = _read_events(events_path)
            os.unlink(events_path)
            reply["killed"] = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            reply["returncode"] = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


def _read_events(path: str) -> dict[str, Any]:
    started: list[str] = []
    finished: dict[str, str] = {}
    messages: dict[str, str] = {}
    logs: list[str] = []
    error = ""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                event = json.loads(line)
            except ValueError:  # the last line of a killed child may be cut short
                continue
            if event["kind"] == "start":
                started.append(event["node"])
            elif event["kind"] == "finished":
                finished[event["node"]] = event["status"]
                if event["status"] not in ("success", "pass"):
                    messages[event["node"]] = event.get("message", "")
            elif event["kind"] == "log":
                logs.append(event["message"])
            elif event["kind"] == "error":
                error = event["message"]
    return {"started": started, "finished": finished, "messages": messages, "logs": logs, "error": error}


def _release_duckdb() -> None:
    """A forked child must not inherit an open DuckDB database: close dbt-duckdb's, if parsing opened it."""
    module = sys.modules.get("dbt.adapters.duckdb.connections")
    manager = getattr(module, "DuckDBConnectionManager", None) if module else None
    env = getattr(manager, "_ENV", None) if manager else None
    if env is not None:
        with contextlib.suppress(Exception):
            env.close()
        manager._ENV = None  # type: ignore[union-attr]


if __name__ == "__main__":
    _serve()
