"""The Spark lane (docs/decisions/0008-spark.md): the same models, through dispatch, on a local Spark.

dbt-spark's ``session`` method with pyspark in this process (``helpers.spark``): tables are plain parquet in a
Hive catalog (no Delta Lake jars here). The scenario fixtures of ``test_scenarios.py`` are built once on
Spark, DuckDB and Postgres, and:

* every scenario's messages are partitioned into persons as its ``expected.csv`` says (as on the other two);
* every published table is identical on Spark and on DuckDB, and on Spark and on Postgres, row for row, ids
  included: all columns but the ones recording *when* a row was written, compared as multisets of
  normalised values (timestamps as ISO text, booleans as ``true``/``false``, numbers as text).

Incremental runs: the data of ``test_incremental.py`` (its late loads, replays, offline devices, late alias and
junk-list change) is loaded in ``RUNS`` groups of its batches, one ``dbt build`` per group (data tests in the
last run only: they do not write), and the outputs must equal a ``--full-refresh`` on all of it, and a re-run
without new data must not change a row. ``RUNS`` keeps a run boundary everywhere a case needs one.

Marker ``spark`` (``pytest -m "not spark"`` skips the lane); the Postgres comparison also carries ``postgres``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import test_incremental as incremental
import test_personal_data as personal
import test_scenarios as scenarios
from helpers.warehouse import Warehouse, WarehouseFactory
from test_incremental import Snapshot, snapshot, table_diff

pytestmark = pytest.mark.spark

# What the three engines must publish identically: the published graph and marts, the change log and the
# closure log (first build: every identifier is a birth), and the audit (empty on all three).
COMPARED = (
    "dim_person",
    "fct_tracks",
    "fct_pages",
    "fct_identifies",
    "person_identifiers",
    "identity_links",
    "identity_refusals",
    "person_changes",
    "closure_runs",
    "idstitch_violations",
)
# when (and by which invocation) a row was written: differs between any two builds
WRITTEN_COLUMNS = ("changed_in_run_at", "run_started_at", "invocation_id")


def published(wh: Warehouse) -> Snapshot:
    return snapshot(wh, exclude=WRITTEN_COLUMNS, relations=COMPARED)


@pytest.fixture(scope="module")
def spark_build(
    warehouse_factory: WarehouseFactory, tmp_path_factory: pytest.TempPathFactory
) -> scenarios.BuildResult:
    return scenarios._build("spark", warehouse_factory, tmp_path_factory.mktemp("scenarios-spark"))


def _reference(engine: str, factory: WarehouseFactory, tmp_dir: Path) -> Snapshot:
    build = scenarios._build(engine, factory, tmp_dir)
    assert build.returncode == 0, f"dbt build failed on {engine}:\n" + "\n".join(build.output.splitlines()[-60:])
    return published(build.warehouse)


@pytest.fixture(scope="module")
def spark_outputs(spark_build: scenarios.BuildResult) -> Snapshot:
    assert spark_build.returncode == 0, "dbt build failed on Spark"
    return published(spark_build.warehouse)


def test_build_succeeds(spark_build: scenarios.BuildResult) -> None:
    tail = "\n".join(spark_build.output.splitlines()[-80:])
    assert spark_build.returncode == 0, f"dbt build failed on spark:\n{tail}"
    # every model, seed and data test ran: nothing skipped, nothing failed
    assert "ERROR=0" in spark_build.output and "SKIP=0" in spark_build.output, tail


@pytest.mark.parametrize("scenario", scenarios.SCENARIOS, ids=[sc.name for sc in scenarios.SCENARIOS])
def test_scenario(spark_build: scenarios.BuildResult, scenario: scenarios.Scenario) -> None:
    scenarios.test_scenario(spark_build, scenario)


def test_no_person_spans_scenarios(spark_build: scenarios.BuildResult) -> None:
    scenarios.test_no_person_spans_scenarios(spark_build)


def test_hubs_take_no_part_in_the_closures(spark_build: scenarios.BuildResult) -> None:
    """Hubs (scenarios 09 and 11) are quarantined before the closures: no hub is a node of either closure, so
    every identifier entering a closure has at most idstitch__max_links_per_identifier links (no hub key
    concentrates the closure's shuffles)."""
    wh = spark_build.warehouse
    internal = f"{wh.schema}_idstitch_internal"
    hubs = wh.relation("int_idstitch__hubs", internal)
    ((n_hubs,),) = wh.query(f"select count(*) from {hubs}")
    assert n_hubs >= 2
    for closure in ("int_idstitch__user_groups", "int_idstitch__anonymous_groups"):
        nodes = wh.relation(closure, internal)
        ((n,),) = wh.query(f"select count(*) from {nodes} as c inner join {hubs} as h on c.node = h.identifier_key")
        assert n == 0, f"{n} hubs are nodes of {closure}"


def _assert_equal(spark: Snapshot, other: Snapshot, engine: str) -> None:
    problems: list[str] = []
    for name in COMPARED:
        problems += table_diff(name, spark[name], other[name], "spark", engine)
    assert not problems, f"Spark and {engine} publish different rows:\n" + "\n".join(problems)
    assert spark["fct_tracks"].n_rows > 0 and spark["identity_links"].n_rows > 0


def test_equal_to_duckdb(
    spark_outputs: Snapshot, warehouse_factory: WarehouseFactory, tmp_path_factory: pytest.TempPathFactory
) -> None:
    duckdb = _reference("duckdb", warehouse_factory, tmp_path_factory.mktemp("scenarios-duckdb"))
    _assert_equal(spark_outputs, duckdb, "duckdb")


@pytest.mark.postgres
def test_equal_to_postgres(
    spark_outputs: Snapshot, warehouse_factory: WarehouseFactory, tmp_path_factory: pytest.TempPathFactory
) -> None:
    postgres = _reference("postgres", warehouse_factory, tmp_path_factory.mktemp("scenarios-postgres"))
    _assert_equal(spark_outputs, postgres, "postgres")


# ---------------------------------------------------------------------------------------------- incremental

# test_incremental's ten batches in six runs: a boundary before each late load (2|3, 4|5, 6|7, 8|9), before the
# earlier replay (5|6) and the late anchor (4|5), and before the junk-list change (6|7).
RUNS = ((1, 2), (3, 4), (5,), (6,), (7, 8), (9, 10))


def test_runs_keep_the_boundaries_the_cases_need() -> None:
    """No dbt: every batch is in exactly one run, in order, and each case's two batches are in different runs."""
    assert [b for run in RUNS for b in run] == list(range(1, incremental.N_BATCHES + 1))
    run_of = {b: i for i, run in enumerate(RUNS) for b in run}
    boundaries = {(k, k + 1) for k in incremental.LATE_BATCHES}
    boundaries |= {(incremental.LATE_ANCHOR_BATCH, incremental.LATE_ANCHOR_BATCH + 1), (5, 6)}  # earlier replay
    boundaries |= {(incremental.JUNK_BATCH - 1, incremental.JUNK_BATCH)}
    for before, after in sorted(boundaries):
        assert run_of[before] < run_of[after], f"batches {before} and {after} are loaded in the same run"
    assert incremental.JUNK_BATCH in [run[0] for run in RUNS], "the junk-list change must start a run"


# Runs stopped half-way through a table swap (macros/materializations/replace_table.sql), before some of the
# incremental runs: (relation, step) — the relation's model fails right after that step, as if killed there
# ('next written': the new version is complete beside the table; 'old dropped': the table is gone). Each
# stopped run is followed by the next stopped run or by the normal run, which must recover.
#  - before run 2: the message index, rewritten by idstitch_incremental (everything downstream is skipped);
#  - before run 3: a fact (the old version stays) and a published graph table (idstitch_table); then the change
#    log's pre-hook, which deletes the rows the first stopped run appended (idstitch.delete_rows), and dim_person
#    (which the first one skipped: it reads the facts);
#  - before run 5: the shared-device sessions' post-hook, which deletes replaced sessions.
Stop = tuple[str, str]
STOPPED_RUNS: dict[int, tuple[tuple[Stop, ...], ...]] = {
    2: ((("int_idstitch__messages", "old dropped"),),),
    3: (
        (("fct_tracks", "next written"), ("identity_links", "old dropped")),
        (("person_changes", "old dropped"), ("dim_person", "old dropped")),
    ),
    5: ((("int_idstitch__shared_device_sessions", "old dropped"),),),
}
STOP_VAR = "idstitch_test_stop_swaps"
# The test project's swap_step_done: the model fails right after the step named in STOP_VAR for its relation.
STOP_MACRO = """
{% macro spark__swap_step_done(relation, step) -%}
    {%- for identifier, stop_after in var('""" + STOP_VAR + """', []) -%}
        {%- if relation.identifier == identifier and step == stop_after -%}
            {{ exceptions.raise_compiler_error('test: the run stops after ' ~ step ~ ' of ' ~ identifier) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return('') }}
{%- endmacro %}
"""
# dbt in this process writes no log file unless asked: the runs' debug logs (every statement, timed) stay in the
# warehouse's directory, with a summary of the runs (runs.json: seconds per run, the readers' counts)
DEBUG_LOG = ("--log-level-file", "debug")
READ_DURING_RUN = 4  # readers count the swapped published tables while this run rewrites them
SWAPPED_PUBLISHED = tuple(name for name in incremental.PUBLISHED)  # all rewritten by a swap on parquet


@dataclass
class StoppedRun:
    stops: tuple[Stop, ...]
    returncode: int
    output: str
    # relation -> (table exists, `<table>__idstitch_next` exists, rows in the table or None)
    states: dict[str, tuple[bool, bool, int | None]]
    rows_before: dict[str, int | None]  # the same relations' rows before the stopped run


@dataclass
class Reads:
    before: dict[str, int] = field(default_factory=dict)
    after: dict[str, int] = field(default_factory=dict)
    counts: list[tuple[str, int | None]] = field(default_factory=list)  # (relation, rows or None: no table)


@dataclass
class SparkRuns:
    failure: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    stamps: int = 0  # distinct run stamps left in the message index after the last incremental run
    final: dict[str, list[str]] = field(default_factory=dict)  # relation -> diff, incremental vs full refresh
    rerun: dict[str, list[str]] = field(default_factory=dict)  # relation -> diff, re-run vs before
    stopped: dict[int, list[StoppedRun]] = field(default_factory=dict)  # run number -> runs stopped before it
    outputs: dict[int, str] = field(default_factory=dict)  # run number -> dbt output
    changes_before: dict[int, Counter[tuple[Any, ...]]] = field(default_factory=dict)  # person_changes before run n
    changes_after: dict[int, Counter[tuple[Any, ...]]] = field(default_factory=dict)  # ... and after it
    stopped_invocations: set[str] = field(default_factory=set)
    reads: Reads = field(default_factory=Reads)

    def require(self) -> None:
        if self.failure is not None:
            pytest.fail(self.failure)


def _rows(wh: Warehouse, name: str, schema: str | None = None) -> int | None:
    """Rows of a relation, None when it does not exist."""
    if not wh.spark.session.catalog.tableExists(wh.relation(name, schema).replace("`", "")):  # type: ignore[union-attr]
        return None
    ((n,),) = wh.query(f"select count(*) from {wh.relation(name, schema)}")
    return int(n)


def _schema_of(wh: Warehouse, name: str) -> str:
    return wh.schema if name in (*incremental.PUBLISHED, "person_changes") else f"{wh.schema}_idstitch_internal"


def _stopped_run(wh: Warehouse, runs: SparkRuns, stops: tuple[Stop, ...], label: str) -> StoppedRun:
    names = [name for name, _ in stops]
    rows_before = {name: _rows(wh, name, _schema_of(wh, name)) for name in names}
    started = time.monotonic()
    proc = wh.run_dbt("build", "--exclude-resource-type", "test", *DEBUG_LOG,
                      vars={**incremental.BUILD_VARS, STOP_VAR: stops}, expect_ok=False)
    runs.seconds[label] = time.monotonic() - started
    states = {}
    for name in names:
        schema = _schema_of(wh, name)
        states[name] = (_rows(wh, name, schema) is not None, _rows(wh, f"{name}__idstitch_next", schema) is not None,
                        _rows(wh, name, schema))
    return StoppedRun(stops, proc.returncode, proc.stdout + proc.stderr, states, rows_before)


def _changes(wh: Warehouse) -> Counter[tuple[Any, ...]]:
    return Counter(tuple(r) for r in wh.query(f"select * from {wh.relation('person_changes')}"))


def _read_while(wh: Warehouse, reads: Reads, stop: threading.Event) -> None:
    """A reader in a session of its own (as a BI tool's): counts the published tables in turn until `stop`.
    Each read re-resolves the table (REFRESH TABLE: a session caches a table's file listing)."""
    session = wh.spark.session.newSession()  # type: ignore[union-attr]
    while not stop.is_set():
        for name in SWAPPED_PUBLISHED:
            rel = wh.relation(name)
            try:
                session.sql(f"refresh table {rel}")
                ((n,),) = session.sql(f"select count(*) from {rel}").collect()
                reads.counts.append((name, int(n)))
            except Exception:  # no table (dropped, not renamed in yet), or its files went away mid-read
                reads.counts.append((name, None))
            time.sleep(0.02)


def _spark_build(wh: Warehouse, runs: SparkRuns, label: str, *args: str) -> bool:
    started = time.monotonic()
    proc = wh.run_dbt("build", *args, *DEBUG_LOG, vars=incremental.BUILD_VARS, expect_ok=False)
    runs.seconds[label] = time.monotonic() - started
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-60:])
        runs.failure = f"{label}: dbt build {' '.join(args)} exited {proc.returncode} ({wh!r})\n{tail}"
        return False
    return True


@pytest.fixture(scope="module")
def incremental_runs(warehouse_factory: WarehouseFactory) -> SparkRuns:
    plan = incremental.make_plan()
    runs = SparkRuns()
    inc = warehouse_factory("spark")
    (inc.use_project_copy() / "macros" / "test_stop_swaps.sql").write_text(STOP_MACRO)
    for n, batches in enumerate(RUNS, start=1):
        if incremental.JUNK_BATCH in batches:
            incremental.add_junk_value(inc.project_dir, incremental.JUNK_VALUE)
        inc.load_tables(incremental.SOURCE_SCHEMA, plan.tables(list(batches)), append=n > 1)
        last = n == len(RUNS)
        runs.changes_before[n] = _changes(inc) if n > 1 else Counter()
        for k, stops in enumerate(STOPPED_RUNS.get(n, ()), start=1):
            stopped = _stopped_run(inc, runs, stops, f"stopped run {k} before run {n}")
            runs.stopped.setdefault(n, []).append(stopped)
        if n > 1:
            runs.stopped_invocations |= {
                row[0] for row in inc.query(
                    f"select invocation_id from {inc.relation('idstitch_run_log', f'{inc.schema}_idstitch_internal')}"
                    " where event = 'incomplete'")
            }
        reader = None
        if n == READ_DURING_RUN:
            runs.reads.before = {name: _rows(inc, name) or 0 for name in SWAPPED_PUBLISHED}
            done = threading.Event()
            reader = threading.Thread(target=_read_while, args=(inc, runs.reads, done), daemon=True)
            reader.start()
        try:
            ok = _spark_build(inc, runs, f"incremental run {n} (batches {batches})",
                              *([] if last else ["--exclude-resource-type", "test"]))
        finally:
            if reader is not None:
                done.set()
                reader.join()
        runs.outputs[n] = inc.last_stdout
        if not ok:
            return runs
        if n == READ_DURING_RUN:
            runs.reads.after = {name: _rows(inc, name) or 0 for name in SWAPPED_PUBLISHED}
        runs.changes_after[n] = _changes(inc)
    ((runs.stamps,),) = inc.query(
        "select count(distinct changed_in_run_at) from "
        + inc.relation("int_idstitch__messages", f"{inc.schema}_idstitch_internal")
    )
    after_runs = snapshot(inc)
    ref = warehouse_factory("spark")
    incremental.add_junk_value(ref.use_project_copy(), incremental.JUNK_VALUE)
    ref.load_tables(incremental.SOURCE_SCHEMA, plan.tables(range(1, incremental.N_BATCHES + 1)))
    if not _spark_build(ref, runs, "full refresh on all batches", "--full-refresh"):
        return runs
    reference = snapshot(ref)
    runs.final = {
        name: table_diff(name, after_runs[name], reference[name], "incremental", "full refresh")
        for name in incremental.PUBLISHED
    }
    before = snapshot(inc, exclude=())
    if not _spark_build(inc, runs, "re-run without new data", "--exclude-resource-type", "test"):
        return runs
    after = snapshot(inc, exclude=())
    runs.rerun = {
        name: table_diff(name, after[name], before[name], "re-run", "before") for name in incremental.PUBLISHED
    }
    missing = Counter(name for name, n in runs.reads.counts if n is None)
    (inc.base_dir / "runs.json").write_text(json.dumps({
        "seconds": runs.seconds,
        "reads": {"total": len(runs.reads.counts), "no table": dict(missing),
                  "before": runs.reads.before, "after": runs.reads.after},
    }, indent=2) + "\n")
    return runs


def test_incremental_builds_succeed(incremental_runs: SparkRuns) -> None:
    incremental_runs.require()
    # the runs really were incremental: the message index kept rows written by every run
    assert incremental_runs.stamps == len(RUNS), incremental_runs.seconds


@pytest.mark.parametrize("relation", incremental.PUBLISHED)
def test_incremental_equals_full_refresh(incremental_runs: SparkRuns, relation: str) -> None:
    incremental_runs.require()
    diff = incremental_runs.final[relation]
    assert not diff, f"[spark] after {len(RUNS)} incremental runs:\n" + "\n".join(diff)


@pytest.mark.parametrize("relation", incremental.PUBLISHED)
def test_rerun_without_new_data_changes_no_row(incremental_runs: SparkRuns, relation: str) -> None:
    incremental_runs.require()
    diff = incremental_runs.rerun[relation]
    assert not diff, "[spark] re-run without new data:\n" + "\n".join(diff)


STOPPED = [(n, k, stopped_run) for n, stopped in STOPPED_RUNS.items() for k, stopped_run in enumerate(stopped)]


@pytest.mark.parametrize(("run", "index", "stops"), STOPPED,
                         ids=[f"before-run-{n}-" + "+".join(f"{r}@{s}" for r, s in st) for n, _, st in STOPPED])
def test_a_run_stopped_mid_swap_leaves_the_old_table_or_the_complete_new_one(
    incremental_runs: SparkRuns, run: int, index: int, stops: tuple[Stop, ...]
) -> None:
    """The stop lands where asked: the run fails naming it; after 'next written' the table still holds its old
    rows beside the complete new version; after 'old dropped' the table is gone and only the new version is
    left (never a half-written table)."""
    if run not in incremental_runs.stopped or len(incremental_runs.stopped[run]) <= index:
        incremental_runs.require()
        pytest.fail(f"the runs stopped before run {run} did not happen")
    stopped = incremental_runs.stopped[run][index]
    assert stopped.returncode != 0, stopped.output[-3000:]
    for name, step in stops:
        assert f"test: the run stops after {step} of {name}" in stopped.output, stopped.output[-3000:]
        exists, next_exists, rows = stopped.states[name]
        assert next_exists, f"{name}: no {name}__idstitch_next after the run stopped after {step}"
        if step == "next written":
            assert exists and rows == stopped.rows_before[name], (name, rows, stopped.rows_before[name])
        else:
            assert not exists, f"{name} exists after the run stopped after {step}"


@pytest.mark.parametrize("run", sorted(STOPPED_RUNS))
def test_the_run_after_a_stopped_swap_recovers(incremental_runs: SparkRuns, run: int) -> None:
    """The next run renames a complete new version in where the table was dropped (and logs it), and the change
    log keeps every row it had before the stopped runs, none of theirs (outputs equal to a full refresh:
    test_incremental_equals_full_refresh)."""
    incremental_runs.require()
    stopped = incremental_runs.stopped[run]
    next_outputs = [s.output for s in stopped[1:]] + [incremental_runs.outputs[run]]
    for stopped_run, output in zip(stopped, next_outputs, strict=True):
        for name, step in stopped_run.stops:
            if step == "old dropped":
                restored = f"{name} restored from {name}__idstitch_next"
                assert restored in output, f"{name}: not restored\n{output[-3000:]}"
    kept = incremental_runs.changes_before[run] - incremental_runs.changes_after[run]
    assert not kept, f"person_changes lost {sum(kept.values())} rows over the stopped runs before run {run}"
    logged_by_stopped = {row for row in incremental_runs.changes_after[run]
                         if set(map(str, row)) & incremental_runs.stopped_invocations}
    assert not logged_by_stopped, f"person_changes keeps rows of stopped runs: {sorted(logged_by_stopped)[:3]}"


def test_readers_see_the_old_or_the_new_table_never_a_half_written_one(incremental_runs: SparkRuns) -> None:
    """While a run rewrites the published tables, a reader in another session counts the old rows, the new
    rows, or (between a swap's drop and rename) no table: never another count."""
    incremental_runs.require()
    reads = incremental_runs.reads
    assert reads.counts and reads.before and reads.after
    changed = {name for name in SWAPPED_PUBLISHED if reads.before[name] != reads.after[name]}
    assert changed, "the run must change some published table for the readers to see a rewrite"
    wrong = [(name, n) for name, n in reads.counts if n not in (None, reads.before[name], reads.after[name])]
    assert not wrong, f"readers saw other counts: {wrong[:10]} (before {reads.before}, after {reads.after})"


# -------------------------------------------------------------------------------------------- personal data

# test_personal_data's check on Spark: the same fixtures and vars as the scenario build above, hashed with the key
# the profile passes as the session conf idstitch.hash_key (README "Personal data").


def package_relations(wh: Warehouse) -> list[tuple[str, str, str]]:
    """(schema, name, table type) of every relation in the package's two schemas."""
    session = wh.spark.session  # type: ignore[union-attr]
    out = []
    for schema in (wh.schema, f"{wh.schema}_idstitch_internal"):
        if session.catalog.databaseExists(schema):
            out += [(schema, t.name, t.tableType) for t in session.catalog.listTables(schema) if not t.isTemporary]
    return sorted(out)


def spark_text_cells(wh: Warehouse) -> set[str]:
    """Every text value of every table (not view) in the package's schemas."""
    session = wh.spark.session  # type: ignore[union-attr]
    cells: set[str] = set()
    for schema, name, table_type in package_relations(wh):
        if table_type == "VIEW":
            continue
        rel = wh.relation(name, schema)
        columns = [wh.quote(c) for c, dtype in session.table(rel).dtypes if dtype == "string"]
        if columns:
            for row in wh.query(f"select distinct {', '.join(columns)} from {rel}"):
                cells |= {v for v in row if v is not None}
    return cells


@dataclass
class HashedBuild:
    warehouse: Warehouse
    csvs: dict[str, Path]
    returncode: int
    output: str


@pytest.fixture(scope="module")
def spark_hashed(warehouse_factory: WarehouseFactory, tmp_path_factory: pytest.TempPathFactory) -> HashedBuild:
    wh = warehouse_factory("spark")
    csvs = scenarios.combined_csvs(tmp_path_factory.mktemp("personal-spark"))
    wh.load_tables(scenarios.SOURCE_SCHEMA, csvs)
    personal.give_key(wh)
    # dbt in this process logs to no file unless asked: the debug log, with every statement
    proc = wh.run_dbt("--debug", "build", "--log-level-file", "debug", vars=personal.HASHED_VARS, expect_ok=False)
    return HashedBuild(wh, csvs, proc.returncode, proc.stdout + proc.stderr)


def test_personal_traits_are_stored_only_as_keyed_hashes(
    spark_hashed: HashedBuild, spark_build: scenarios.BuildResult
) -> None:
    """No raw e-mail or name in any table; e-mails as the keyed hash Python computes (the digits DuckDB and
    Postgres compute, test_personal_data.py); the same persons as the build without hashing."""
    wh = spark_hashed.warehouse
    assert spark_hashed.returncode == 0, "\n".join(spark_hashed.output.splitlines()[-60:])
    cells = spark_text_cells(wh)
    assert personal.raw_values(spark_hashed.csvs, ["email"]) & spark_text_cells(spark_build.warehouse), (
        "the check must see e-mails in the tables of the build without hashing"
    )
    leaked = personal.raw_values(spark_hashed.csvs, personal.PERSONAL) & cells
    assert not leaked, f"raw personal values in idstitch's tables: {sorted(leaked)[:5]}"
    stored = {r[0] for r in wh.query(
        f"select identifier from {wh.relation('person_identifiers')} where identifier_type = 'email'")}
    emails = personal.raw_values(spark_hashed.csvs, ["email"])
    assert stored and stored <= {personal.keyed_hash(e.strip().lower()) for e in emails}
    assert {personal.keyed_hash(n.strip()) for n in personal.raw_values(spark_hashed.csvs, ["name"])} & cells
    assert personal.partition(wh) == personal.partition(spark_build.warehouse)


def test_hash_key_stays_out_of_dbt_and_the_catalog(spark_hashed: HashedBuild) -> None:
    """The key is in no SQL dbt wrote or logged (a --debug build), in no file under target/, in no view's
    text in the catalog; dbt scrubbed nothing (its `*****`); and no e-mail is in dbt's output either."""
    wh = spark_hashed.warehouse
    assert spark_hashed.returncode == 0
    session = wh.spark.session  # type: ignore[union-attr]
    texts = {"dbt output": spark_hashed.output}
    texts |= {str(path): path.read_text(errors="replace") for path in wh.log_path.glob("*.log")}
    texts |= {str(path): path.read_text(errors="replace") for path in wh.target_path.rglob("*") if path.is_file()}
    views = [(schema, name) for schema, name, kind in package_relations(wh) if kind == "VIEW"]
    assert views, "the package's views"
    for schema, name in views:
        texts[f"view {name}"] = session.sql(f"show create table {wh.relation(name, schema)}").collect()[0][0]
    log = "\n".join(texts[str(path)] for path in wh.log_path.glob("*.log"))
    assert "${idstitch.hash_key}" in log, "the debug log holds the SQL, with the reference to the key"
    found = sorted(where for where, text in texts.items() if personal.KEY in text)
    assert not found, f"the hash key is in {found[:5]}"
    assert not [where for where, text in texts.items() if "*****" in text], "dbt scrubbed the key from a log"
    emails = {e for e in personal.raw_values(spark_hashed.csvs, ["email"]) if len(e) >= 5}
    assert not sorted(e for e in emails if e in log or e in spark_hashed.output)


BAD_KEYS = {
    "no key": None,
    "a short key": "short-key",
    "a key with a quote": "0123456789abcdef'--",
    "no substitution": personal.KEY,
}


@pytest.mark.parametrize("case", list(BAD_KEYS))
def test_without_a_usable_key_nothing_is_built(warehouse_factory: WarehouseFactory, case: str) -> None:
    """A key Spark would not receive intact stops the run at start, before anything is written, without
    printing the key."""
    wh = warehouse_factory("spark")
    wh.load_tables(scenarios.SOURCE_SCHEMA, {table: [] for table in scenarios.RAW_COLUMNS})
    key = BAD_KEYS[case]
    if key is not None:
        personal.give_key(wh, key)
    session = wh.spark.session  # type: ignore[union-attr]
    if case == "no substitution":
        profiles = wh.profiles_dir / "profiles.yml"
        profile: dict[str, Any] = json.loads(profiles.read_text())
        profile["idstitch"]["outputs"]["spark"]["server_side_parameters"]["spark.sql.variable.substitute"] = "false"
        profiles.write_text(json.dumps(profile))
    try:
        proc = wh.run_dbt("build", vars=personal.HASHED_VARS, expect_ok=False)
    finally:
        session.conf.set("spark.sql.variable.substitute", "true")  # the one session is shared by the module
    expected = {
        "no key": "none reached the Spark session",
        "a short key": "the one given is too short",
        "a key with a quote": "cannot pass through Spark's substitution",
        "no substitution": "set spark.sql.variable.substitute to true",
    }[case]
    assert proc.returncode != 0
    assert "needs a hash key of at least 16 characters" in proc.stdout and expected in proc.stdout, proc.stdout[-3000:]
    assert package_relations(wh) == []
    assert key is None or key not in proc.stdout + proc.stderr
