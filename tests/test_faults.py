"""Faults (issue 6): a run killed at any point, two runs at once, the warehouse going away mid-run.

The data is the incremental acceptance test's (``test_incremental.make_plan``: the demo generator's 200
persons with late loads, replays, an alias joining two persons and junk values, in ten batches). Every
scenario starts from the state "a first run is done and a new batch has arrived", so incremental models
are mid-update when the fault strikes, and ends by comparing with a clean run on the same data:

* every relation the project builds (published tables, working tables, views, the closures' run logs),
  as multisets of rows over every column but the bookkeeping ones (when and by which run a row was
  written: ``changed_in_run_at``, ``run_started_at``, ``invocation_id``);
* no relation besides those and the run log (``idstitch_run_log``) in the target schemas: no
  ``__dbt_tmp`` / ``__dbt_backup`` table, no closure round table.

Kills are real SIGKILLs of a dbt process (``helpers.forked_dbt``: dbt forked from a process that parsed
the project once, killed from dbt's own event stream the moment a model starts or the closure logs a
round). Postgres runs hold the run lock the way ``idstitch run`` does, so a killed run's lock dies with
it; ``test_killed_plain_dbt_run_blocks_until_its_lock_lapses`` covers plain ``dbt run``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from helpers.forked_dbt import SCRIPTS_DIR, ForkedDbt, KillAt, RunResult
from helpers.pgserver import PgServer, postgres_server
from helpers.warehouse import Warehouse, dbt_executable, quote_ident
from test_incremental import (
    BUILD_VARS,
    SECOND,
    SOURCE_SCHEMA,
    Plan,
    Table,
    _norm,
    format_ts,
    make_plan,
    table_diff,
)

pytestmark = pytest.mark.slow

BOOKKEEPING = ("changed_in_run_at", "run_started_at", "invocation_id")
RUN_LOG = "idstitch_run_log"
PUBLISHED = (
    "dim_person", "fct_tracks", "fct_pages", "fct_identifies", "person_identifiers", "identity_links",
    "identity_refusals", "person_changes", "closure_runs",
)
# Postgres: run 1 on batches 1-8, the faulty run on batch 9 (late rows, same-content replays, an alias that
# merges two persons: the id tuples add up), then batch 10. DuckDB: run 1 on 1-5, then batch 6 (an earlier
# receipt replaces a stored winner: the id tuples are recomputed).
PG_BATCHES = (range(1, 9), [9], [10])
DUCKDB_BATCHES = (range(1, 6), [6], [7])
CLOSURES = ("user_groups", "anonymous_groups")
DUCKDB_KILLS = (  # a subset: one kill after each group of stateful models commits, and one in a closure
    KillAt(node="int_idstitch__id_tuples"),
    KillAt(log="idstitch closure anonymous_groups: round 1:"),
    KillAt(node="idstitch__person_changes"),
    KillAt(node="idstitch__fct_pages"),
    KillAt(node="int_idstitch__run_config"),
)
TRACEBACK = "Traceback (most recent call last)"


# ---------------------------------------------------------------------------------------------- comparing


def project_relations(wh: Warehouse) -> dict[str, tuple[str, str]]:
    """name -> (schema, identifier) of every model and seed the project builds, and of each closure's
    run log, from the manifest dbt wrote for this warehouse."""
    manifest = json.loads((wh.target_path / "manifest.json").read_text(encoding="utf-8"))
    out: dict[str, tuple[str, str]] = {}
    for node in manifest["nodes"].values():
        if node["package_name"] != "idstitch" or node["resource_type"] not in ("model", "seed"):
            continue
        identifier = node.get("alias") or node["name"]
        out[node["name"]] = (node["schema"], identifier)
        if node["config"].get("materialized") == "idstitch_closure":
            out[node["name"] + "__log"] = (node["schema"], identifier + "__log")
    return out


def published(relations: Mapping[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    return {name: rel for name, rel in relations.items() if rel[1] in PUBLISHED}


def snapshot(wh: Warehouse, relations: Mapping[str, tuple[str, str]]) -> dict[str, Table]:
    """Each relation as a multiset of normalised rows over all columns but the bookkeeping ones."""
    out: dict[str, Table] = {}
    for name, (schema, identifier) in relations.items():
        rows = wh.query_dicts(f"select * from {quote_ident(schema)}.{quote_ident(identifier)}")
        if rows:
            columns = tuple(c for c in rows[0] if c not in BOOKKEEPING)
        else:
            columns = tuple(
                c for (c,) in wh.query(
                    "select column_name from information_schema.columns where table_schema = "
                    f"'{schema}' and table_name = '{identifier}' order by ordinal_position"
                ) if c not in BOOKKEEPING
            )
        out[name] = Table(columns, Counter(tuple(_norm(r[c]) for c in columns) for r in rows), len(rows))
    return out


def differences(got: Mapping[str, Table], want: Mapping[str, Table], label: str) -> list[str]:
    return [line for name in got for line in table_diff(name, got[name], want[name], label, "clean run")]


def leftovers(wh: Warehouse, relations: Mapping[str, tuple[str, str]]) -> list[str]:
    """Relations in the project's schemas that the project does not build (scratch a run left behind)."""
    schemas = sorted({schema for schema, _ in relations.values()})
    expected = set(relations.values()) | {(schema, RUN_LOG) for schema in schemas}
    found = {
        (schema, name) for schema, name in wh.query(
            "select table_schema, table_name from information_schema.tables where table_schema in ("
            + ", ".join(f"'{s}'" for s in schemas) + ")"
            + (f" and table_catalog = '{wh.database}'" if wh.target == "duckdb" else "")
        )
    }
    return sorted(f"{schema}.{name}" for schema, name in found - expected)


def run_log(wh: Warehouse, relations: Mapping[str, tuple[str, str]]) -> list[tuple[str, str]]:
    """(invocation_id, event) rows of the run log, oldest first."""
    schema = relations["int_idstitch__run_config"][0]
    return [(str(i), str(e)) for i, e in wh.query(
        f"select invocation_id, event from {quote_ident(schema)}.{quote_ident(RUN_LOG)} order by logged_at"
    )]


def require(result: RunResult, what: str) -> None:
    assert result.ok, f"{what}: {result}"


# ---------------------------------------------------------------------------------------------- the CLI


def cli_command(wh: Warehouse, *args: str) -> tuple[list[str], dict[str, str]]:
    """``idstitch <args>`` of this checkout (not whatever is installed) against ``wh``."""
    env = {k: v for k, v in wh.dbt_env().items() if k not in ("DBT_PROJECT_DIR", "DBT_TARGET")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SCRIPTS_DIR), os.environ.get("PYTHONPATH", "")) if p)
    argv = [sys.executable, "-m", "idstitch.cli", *args, "--project-dir", str(wh.project_dir),
            "--profiles-dir", str(wh.profiles_dir), "--target-path", str(wh.target_path)]
    return argv, env


def start_cli_run(wh: Warehouse, *args: str) -> subprocess.Popen[str]:
    argv, env = cli_command(wh, "run", "--vars", json.dumps(BUILD_VARS), *args)
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@dataclass
class Exit:
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout (tail) ---\n{self.out[-3000:]}\n--- stderr ---\n{self.err}"


def finish(proc: subprocess.Popen[str], timeout: float = 600) -> Exit:
    out, err = proc.communicate(timeout=timeout)
    return Exit(proc.returncode, out, err)


def assert_one_line_error(result: Exit, *fragments: str) -> None:
    lines = result.err.strip().splitlines()
    assert result.code == 2 and len(lines) == 1 and TRACEBACK not in result.err, result
    for fragment in fragments:
        assert fragment in lines[0], result


# ---------------------------------------------------------------------------------------------- scenarios


@dataclass
class Case:
    """A warehouse after run 1 with the next batch loaded (kept as a template to restore), the clean
    run's outputs, and a dbt that forks runs on it."""

    engine: str
    wh: Warehouse
    dbt: ForkedDbt
    relations: dict[str, tuple[str, str]]
    before: dict[str, Table]  # published tables after run 1 (what a reader sees before the next run)
    clean: dict[str, Table]  # every relation after the clean run on the new batch
    started: list[str]  # node names in the order the clean run started them
    closure_rounds: list[str]  # the "round 1" lines the clean run logged
    restore: Any  # () -> None: back to the template state
    seconds: dict[str, float] = field(default_factory=dict)
    clean_next: dict[str, Table] | None = None  # after the clean run, and one more batch
    pg: PgServer | None = None
    template: str = ""


def _build_case(engine: str, wh: Warehouse, plan: Plan, first: Sequence[int], new: Sequence[int],
                pg: PgServer | None, following: Sequence[int] = ()) -> Case:
    wh.load_tables(SOURCE_SCHEMA, plan.tables(first))
    dbt = ForkedDbt(wh, vars=BUILD_VARS)
    started = time.monotonic()
    require(dbt.run("build", hold_lock=True), "run 1")
    relations = project_relations(wh)
    before = snapshot(wh, published(relations))
    wh.load_tables(SOURCE_SCHEMA, plan.tables(new), append=True)
    wh.disconnect()
    template = ""
    if engine == "postgres":
        assert pg is not None
        template = f"{wh.database}_t"
        pg.copy_database(wh.database, template)

        def restore() -> None:
            wh.disconnect()
            pg.copy_database(template, wh.database)
    else:
        copy = wh.base_dir / "template.duckdb"
        shutil.copyfile(wh.duckdb_path, copy)

        def restore() -> None:
            Path(str(wh.duckdb_path) + ".wal").unlink(missing_ok=True)
            shutil.copyfile(copy, wh.duckdb_path)
    setup = time.monotonic() - started
    started = time.monotonic()
    clean_run = dbt.run("run", hold_lock=True)
    require(clean_run, "the clean run")
    case = Case(
        engine=engine, wh=wh, dbt=dbt, relations=relations, before=before, clean=snapshot(wh, relations),
        started=clean_run.started, closure_rounds=[line for line in clean_run.logs if ": round 1:" in line],
        restore=restore, seconds={"setup": setup, "clean run": time.monotonic() - started}, pg=pg,
        template=template,
    )
    assert not leftovers(wh, relations), leftovers(wh, relations)
    if following:
        wh.load_tables(SOURCE_SCHEMA, plan.tables(following), append=True)
        require(dbt.run("run", hold_lock=True), "the clean run's next batch")
        case.clean_next = snapshot(wh, relations)
    restore()
    return case


@pytest.fixture(scope="module")
def plan() -> Plan:
    return make_plan()


@pytest.fixture(scope="module")
def postgres_case(pg_server: PgServer, plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Case]:
    first, new, following = PG_BATCHES
    wh = Warehouse("postgres", tmp_path_factory.mktemp("faults-pg"), pg=pg_server)
    case = _build_case("postgres", wh, plan, first, new, pg_server, following)
    try:
        yield case
    finally:
        case.dbt.close()
        with contextlib.suppress(Exception):
            pg_server.drop_database(case.template)
        wh.close()


@pytest.fixture(scope="module")
def duckdb_case(plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Case]:
    first, new, _ = DUCKDB_BATCHES
    wh = Warehouse("duckdb", tmp_path_factory.mktemp("faults-duckdb"))
    case = _build_case("duckdb", wh, plan, first, new, None)
    try:
        yield case
    finally:
        case.dbt.close()
        wh.close()


def kill_points(case: Case) -> list[KillAt]:
    """Every model in the order the clean run started them, and each closure's first round (logged when
    the round's tables are built, before the result is swapped in) right after its model."""
    points: list[KillAt] = []
    for node in case.started:
        points.append(KillAt(node=node))
        for closure in CLOSURES:
            if node == f"int_idstitch__{closure}":
                line = f"idstitch closure {closure}: round 1:"
                assert any(line in logged for logged in case.closure_rounds), (
                    f"the clean run logged no {line!r}: the kill in the closure loop would test nothing"
                )
                points.append(KillAt(log=line))
    return points


# ---------------------------------------------------------------------------------------------- killed runs


def test_killed_at_every_model_postgres(postgres_case: Case, plan: Plan) -> None:
    """Postgres: a run is killed at the start of each model in turn (and in the middle of each closure's
    loop), each run one point later than the run before, which therefore starts from the state the
    previous kill left. After each kill:
      - every model the killed run finished equals the clean run's (so the run after a kill at model N
        rebuilt everything before N exactly as a clean run does);
      - every published table is either as run 1 left it or as the clean run leaves it, never a mix;
      - then one complete run: every relation equals the clean run, no scratch table is left, and the run
        log lists each killed run as abandoned; and the next batch gives what it gives after a clean run.
    """
    case = postgres_case
    wh, dbt = case.wh, case.dbt
    case.restore()
    points = kill_points(case)
    assert len(points) >= 30, [str(p) for p in points]
    publish = published(case.relations)
    after_clean = {name: case.clean[name] for name in publish}
    problems: list[str] = []
    compared = 0
    started = time.monotonic()
    for point in points:
        result = dbt.run("run", kill_at=point, hold_lock=True)
        if not result.killed:
            problems.append(f"{point}: the run was not killed there: {result}")
            break
        done = [n for n, status in result.finished.items() if status == "success" and n in case.relations]
        compared += len(done)
        now = snapshot(wh, {n: case.relations[n] for n in done})
        problems += [f"killed at {point}: {line}" for line in differences(now, case.clean, "rebuilt after kills")]
        tables = snapshot(wh, publish)
        for name, table in tables.items():
            old, new = case.before[name], after_clean[name]
            if table_diff(name, table, old, "", "") and table_diff(name, table, new, "", ""):
                problems.append(f"killed at {point}: {name} is neither run 1's nor the clean run's "
                                f"({table.n_rows} rows; {old.n_rows} / {new.n_rows})")
    killing = time.monotonic() - started
    assert not problems, "\n".join(problems[:40])

    started = time.monotonic()
    final = dbt.run("run", hold_lock=True)
    require(final, "the run after the last kill")
    recovery = time.monotonic() - started
    problems = differences(snapshot(wh, case.relations), case.clean, "after kills")
    assert not problems, "\n".join(problems[:40])
    assert leftovers(wh, case.relations) == []
    log = run_log(wh, case.relations)
    abandoned = [i for i, e in log if e == "abandoned"]
    complete = [i for i, e in log if e == "complete"]
    assert len(abandoned) == len(points) and len(complete) == 2, log  # run 1 and the final run

    # the state the kills left behaves like a clean run's for the next batch too
    _, _, following = PG_BATCHES
    wh.load_tables(SOURCE_SCHEMA, plan.tables(following), append=True)
    require(dbt.run("run", hold_lock=True), "the next batch after the kills")
    assert case.clean_next is not None
    problems = differences(snapshot(wh, case.relations), case.clean_next, "next batch after kills")
    assert not problems, "\n".join(problems[:40])
    print(f"\n[postgres] {len(points)} kill points ({compared} finished models compared) in {killing:.0f} s; "
          f"recovery run {recovery:.1f} s; clean run {case.seconds['clean run']:.1f} s")


@pytest.mark.parametrize("point", DUCKDB_KILLS, ids=lambda p: p.node or "closure-round-1")
def test_killed_run_then_rerun_duckdb(duckdb_case: Case, point: KillAt) -> None:
    """DuckDB (a subset): a run killed at the point, then one plain re-run: every relation equals the
    clean run's, no scratch table is left (DuckDB replays what the killed process had committed)."""
    case = duckdb_case
    case.restore()
    killed = case.dbt.run("run", kill_at=point)
    assert killed.killed, killed
    started = time.monotonic()
    require(case.dbt.run("run"), "the re-run")
    seconds = time.monotonic() - started
    problems = differences(snapshot(case.wh, case.relations), case.clean, "killed + re-run")
    assert not problems, "\n".join(problems[:40])
    assert leftovers(case.wh, case.relations) == []
    print(f"\n[duckdb] killed at {point}; re-run {seconds:.1f} s")


def next_data(plan: Plan, engine: str) -> dict[str, list[dict[str, str | None]]]:
    """The batch after the faulty run's, plus a later copy of three tracks first loaded in the faulty run's
    batch: the index rewrites those rows (one more receipt) after the killed run wrote them as new."""
    _, new, following = PG_BATCHES if engine == "postgres" else DUCKDB_BATCHES
    data = plan.tables(following)
    newest = plan.max_received(max(new))
    tracks = sorted((m for m in plan.batch(max(new)) if m.table == "tracks" and not m.case), key=lambda m: m.key)
    for k, m in enumerate(tracks[:3]):
        data["tracks"].append({**m.row, "received_at": format_ts(newest + (k + 1) * SECOND)})
    return data


@pytest.mark.parametrize("engine, point", [
    ("duckdb", KillAt(node="idstitch__fct_pages")),
    pytest.param("postgres", KillAt(node="int_idstitch__id_tuples"), marks=pytest.mark.postgres),
], ids=["duckdb", "postgres"])
def test_new_data_between_kill_and_rerun(engine: str, point: KillAt, plan: Plan,
                                         request: pytest.FixtureRequest) -> None:
    """The usual case on a schedule: the killed run is followed by the next batch before anything runs
    again. The re-run equals one clean run over both batches — the killed run's half-consumed changes (on
    Postgres: messages it indexed as new, three of them received again since) are not lost."""
    case: Case = request.getfixturevalue(f"{engine}_case")
    data = next_data(plan, engine)
    case.restore()
    case.wh.load_tables(SOURCE_SCHEMA, data, append=True)
    require(case.dbt.run("run", hold_lock=True), "the clean run over both batches")
    reference = snapshot(case.wh, case.relations)
    case.restore()
    killed = case.dbt.run("run", kill_at=point, hold_lock=True)
    assert killed.killed, killed
    case.wh.load_tables(SOURCE_SCHEMA, data, append=True)
    require(case.dbt.run("run", hold_lock=True), "the re-run with the next batch")
    problems = differences(snapshot(case.wh, case.relations), reference, "killed + next batch + re-run")
    assert not problems, "\n".join(problems[:40])
    assert leftovers(case.wh, case.relations) == []


# ---------------------------------------------------------------------------------------------- readers


def test_readers_never_see_a_half_written_table(postgres_case: Case) -> None:
    """Postgres: while a run rewrites the published tables (an incremental run, then a full refresh),
    readers counting their rows over and over only ever see the old count or the new one — the
    incremental delete+insert and the table swaps both happen inside one transaction — and never an
    error (a table missing between drop and rename)."""
    case = postgres_case
    pg = case.pg
    assert pg is not None
    tables = published(case.relations)
    tables.pop("idstitch__closure_runs")  # appended per run: its count grows by design
    case.restore()
    for label, args, old, new in (
        ("incremental run", ("run",), case.before, case.clean),
        ("full refresh", ("run", "--full-refresh"), case.clean, case.clean),
    ):
        seen: dict[str, set[int]] = {name: set() for name in tables}
        reads: Counter[str] = Counter()
        errors: list[str] = []
        stop = threading.Event()

        def read(name: str, seen: dict[str, set[int]] = seen, reads: Counter[str] = reads,
                 errors: list[str] = errors, stop: threading.Event = stop) -> None:
            schema, identifier = tables[name]
            with contextlib.closing(pg.connect(case.wh.database)) as conn, conn.cursor() as cur:
                while not stop.is_set():
                    try:
                        cur.execute(f"select count(*) from {quote_ident(schema)}.{quote_ident(identifier)}")
                        seen[name].add(int(cur.fetchone()[0]))
                        reads[name] += 1
                    except Exception as exc:
                        errors.append(f"{name}: {type(exc).__name__}: {exc}")
                    time.sleep(0.002)

        readers = [threading.Thread(target=read, args=(name,), daemon=True) for name in tables]
        for reader in readers:
            reader.start()
        try:
            result = case.dbt.run(*args, hold_lock=True)
        finally:
            stop.set()
            for reader in readers:
                reader.join(30)
        require(result, label)
        assert not errors, f"{label}: " + "\n".join(errors[:10])
        for name in tables:
            allowed = {old[name].n_rows, new[name].n_rows}
            assert seen[name] and seen[name] <= allowed, f"{label}: {name} counts seen {seen[name]}, allowed {allowed}"
        print(f"\n[postgres] {label}: {sum(reads.values())} reads; counts seen "
              + ", ".join(f"{n}={sorted(s)}" for n, s in seen.items()))


# ---------------------------------------------------------------------------------------------- two runs at once


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_idstitch_runs_at_once(engine: str, request: pytest.FixtureRequest) -> None:
    """Two `idstitch run` started together on one target: one builds, the other stops at once with one
    line naming the run in progress (exit 2); the outputs are those of a single run."""
    case: Case = request.getfixturevalue(f"{engine}_case")
    case.restore()
    first, second = start_cli_run(case.wh), start_cli_run(case.wh)
    results = sorted((finish(first), finish(second)), key=lambda r: r.code)
    assert [r.code for r in results] == [0, 2], "\n".join(map(str, results))
    fragment = "is in use by process" if engine == "duckdb" else "another run is building target"
    assert_one_line_error(results[1], fragment)
    problems = differences(snapshot(case.wh, case.relations), case.clean, "two runs at once")
    assert not problems, "\n".join(problems[:40])
    print(f"\n[{engine}] refused: {results[1].err.strip()}")


def test_two_plain_dbt_runs_at_once_postgres(postgres_case: Case) -> None:
    """Two plain `dbt run` started together on Postgres: the on-run-start lock lets exactly one build;
    the other stops before writing, naming the run in progress; the outputs are those of a single run."""
    case = postgres_case
    case.restore()
    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(plain_dbt_run, case.wh, str(k)) for k in range(2)]
        results = sorted((run.result() for run in runs), key=lambda r: r.code)
    assert results[0].code == 0 and results[1].code != 0, "\n".join(map(str, results))
    assert "another run is building this target" in results[1].out, results[1]
    problems = differences(snapshot(case.wh, case.relations), case.clean, "two plain runs at once")
    assert not problems, "\n".join(problems[:40])


def test_killed_plain_dbt_run_blocks_until_its_lock_lapses(postgres_case: Case) -> None:
    """Postgres, plain dbt (no `idstitch run` holding the lock): right after a run is killed, the next run
    cannot tell it from a live one between two models, so it stops with a message naming it (so does
    `idstitch run`, exit 2, one line); once the killed run has been quiet for
    idstitch__run_lock_timeout_minutes, the next run logs it as abandoned and recovers its work."""
    case = postgres_case
    case.restore()
    killed = case.dbt.run("run", kill_at=KillAt(node="int_idstitch__value_persons"))
    assert killed.killed, killed
    refused = case.dbt.run("run")
    assert not refused.ok and "another run is building this target" in refused.error, refused
    assert "its last model finished" in refused.error and "idstitch.release_run_lock" in refused.error, refused
    cli = finish(start_cli_run(case.wh))
    assert_one_line_error(cli, "another run is building this target")
    internal = case.relations["int_idstitch__run_config"][0]
    case.wh.execute(  # ten minutes pass
        f"update {quote_ident(internal)}.{RUN_LOG} set heartbeat_at = heartbeat_at - interval '11 minutes' "
        "where event = 'started'"
    )
    require(case.dbt.run("run"), "the run after the lock lapsed")
    problems = differences(snapshot(case.wh, case.relations), case.clean, "killed plain run + re-run")
    assert not problems, "\n".join(problems[:40])
    events = [e for _, e in run_log(case.wh, case.relations)]
    assert events.count("abandoned") == 1 and events[-1] == "complete", events


def plain_dbt_run(wh: Warehouse, name: str, *args: str) -> Exit:
    """``dbt run`` (or ``dbt <args>``) in a subprocess with a target path of its own (two dbt processes must
    not share one)."""
    target = wh.base_dir / f"target-{name}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    with contextlib.suppress(FileNotFoundError):  # skip the full parse
        shutil.copy2(wh.target_path / "partial_parse.msgpack", target / "partial_parse.msgpack")
    env = {**wh.dbt_env(), "DBT_TARGET_PATH": str(target)}
    proc = subprocess.Popen([dbt_executable(), *(args or ("run",)), "--vars", json.dumps(BUILD_VARS)],
                            cwd=wh.project_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return finish(proc)


def test_a_run_inside_a_model_is_alive(postgres_case: Case) -> None:
    """Postgres: while a plain run is inside a model (here: paused in the closure's loop), a second plain
    run stops, saying so — the model holds the shared run lock for its transaction."""
    case = postgres_case
    case.restore()
    refused: list[Exit] = []
    paused = case.dbt.run("run", pause_at=KillAt(log="idstitch closure anonymous_groups: round 1:"),
                          on_pause=lambda: refused.append(plain_dbt_run(case.wh, "second")))
    require(paused, "the paused run")
    assert refused and refused[0].code != 0, refused
    assert "another run is building this target" in refused[0].out, refused[0]
    assert "one of its models is running" in refused[0].out, refused[0]
    problems = differences(snapshot(case.wh, case.relations), case.clean, "paused run")
    assert not problems, "\n".join(problems[:40])


def test_a_run_taken_for_dead_stops_at_its_next_model(postgres_case: Case) -> None:
    """Postgres: when a plain run is wrongly taken for dead between two models (here: released by hand with
    `dbt run-operation idstitch.release_run_lock`, which a run quiet for longer than the timeout also
    gets), it finds out at its next model and stops there — never writing beside the run that took
    over; the next run then completes the work and equals the clean run."""
    case = postgres_case
    case.restore()
    point = KillAt(node="int_idstitch__identity_map")  # no other model runs beside it
    released: list[Exit] = []
    paused = case.dbt.run("run", pause_at=point, on_pause=lambda: released.append(
        plain_dbt_run(case.wh, "release", "run-operation", "idstitch.release_run_lock")))
    assert released and released[0].code == 0 and "run lock released" in released[0].out, released
    assert not paused.ok and point.node in paused.started, paused
    assert "lost the run lock" in paused.messages.get(str(point.node), ""), paused
    later = paused.started[paused.started.index(str(point.node)):]
    assert not [n for n in later if paused.finished.get(n) == "success"], paused
    require(case.dbt.run("run"), "the run after")
    problems = differences(snapshot(case.wh, case.relations), case.clean, "taken over + re-run")
    assert not problems, "\n".join(problems[:40])


# ---------------------------------------------------------------------------------------------- server gone


def test_server_stopped_mid_run(postgres_case: Case, plan: Plan, tmp_path: Path) -> None:
    """Postgres stopped (immediate shutdown, as in a crash) while `idstitch run` builds: the CLI exits 2
    with one line and no traceback; once the server is back, a plain `idstitch run` (no full refresh)
    gives exactly the clean run's outputs."""
    first, new, _ = PG_BATCHES
    with postgres_server() as pg:
        wh = Warehouse("postgres", tmp_path / "wh", pg=pg)
        try:
            wh.load_tables(SOURCE_SCHEMA, plan.tables(first))
            setup = finish(start_cli_run(wh))
            assert setup.code == 0, setup
            wh.load_tables(SOURCE_SCHEMA, plan.tables(new), append=True)
            wh.disconnect()
            proc = start_cli_run(wh)
            assert proc.stdout is not None
            lines: list[str] = []
            for line in proc.stdout:  # stop the server once the message index is rebuilt
                lines.append(line)
                if "int_idstitch__messages" in line and " OK " in line:
                    pg.stop("immediate")
                    break
            assert not pg.running(), "".join(lines)
            stopped = finish(proc)
            stopped.out = "".join(lines) + stopped.out
            assert_one_line_error(stopped, "idstitch run: error:")
            pg.start()
            recovered = finish(start_cli_run(wh))
            assert recovered.code == 0, recovered
            relations = postgres_case.relations
            problems = differences(snapshot(wh, relations), postgres_case.clean, "server stopped + re-run")
            assert not problems, "\n".join(problems[:40])
            assert leftovers(wh, relations) == []
            events = [e for _, e in run_log(wh, relations)]
            assert events.count("abandoned") == 1 and events[-1] == "complete", events
            print(f"\n[postgres] server stopped mid-run: {stopped.err.strip()}")
        finally:
            wh.close()
