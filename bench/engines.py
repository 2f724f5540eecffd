"""Benchmark: the same full build on DuckDB, Postgres and a local Spark, at two data sizes.

For each size (default 100,000 and 400,000 generated persons ≈ 4.5 M and 18 M messages) the demo data is
loaded into each engine and the package is built once from scratch (`dbt build --resource-type seed
--resource-type model`: data tests and unit tests left out), dbt on one thread, so model times do not
overlap and their sum is the work done. Printed per engine and size:

- summed model seconds (`execution_time` of every model in dbt's run_results.json), the build's wall
  time, and the load time;
- closure rounds per closure, with the links left after each round (the closure's log lines) and the
  input links and identifiers from `closure_runs`;
- persons and identified persons in `dim_person` (the same on every engine for one data set, or the
  script says so), messages loaded;
- the growth time(large) / time(small) beside the data ratio (target on Spark: 4× data ≤ 4.5× time).

On Spark also, model by model at both sizes: seconds, rows and bytes shuffled (written), bytes spilled to
disk, tasks, and the worst stage's longest task against its median task (skew); and for each closure
round the rows its statements shuffled. These come from Spark's status API (the UI's REST endpoint of the
benchmark's own session), stages attributed to a model by time (one dbt thread: nothing overlaps).

How each engine runs (2-core machine; other work beside it makes seconds vary ±40 %: compare ratios):

- DuckDB: a fresh file, `idstitch.demo.load_duckdb`; DuckDB uses both cores, memory limit --duckdb-memory.
- Postgres: a throwaway server (tests/helpers/pgserver.py, its tuned settings), `idstitch.demo.load_postgres`
  (COPY) and `analyze`.
- Spark: one `local[2]` session for the whole script (tests/helpers/spark.py's settings: Derby metastore,
  UTC, parquet date rebasing), driver memory --spark-driver-memory; the CSVs read with `spark.read.csv` and
  an explicit all-text schema (timestamps cast as the test loader casts them) into parquet tables; dbt runs
  in this process through `dbtRunner` (dbt-spark's `session` method finds the session), after one unmeasured
  warm-up build on 2,000 persons (--spark-warmup: a fresh JVM compiles its code paths during its first
  build, which made a cold 100,000-person build look slower than it is), with the profile settings of
  profiles.example.yml (UTC; hash joins where adaptive execution finds the smaller side's partitions under
  64 MB; --spark-conf adds or changes one). Shuffle partitions:
  --spark-shuffle-partitions, by default 8 per 4.5 M messages (rounded to a power of two, at least 8): the
  largest shuffles (the message index's, 0.4 GB at 4.5 M messages and 1.7 GB at 18 M) then come in
  partitions of about 50 MB at every size, near the 64 MB adaptive execution aims for, so it only has to
  merge the many small shuffles (the closure loop, the small models) into a task or two, never split; with
  Spark's default of 200 every small statement would plan 200 tasks, with 2 the largest ones would spill.

    python bench/engines.py [--persons 100000 400000] [--engines duckdb postgres spark]
        [--csv 100000=/path/to/csv] [--csv-root DIR] [--json FILE]

CSVs are generated (`idstitch.demo`, seed --seed) into --csv-root/persons-N-seed-S unless they are there
already or `--csv N=DIR` names a directory holding them. The work directory (databases, Spark warehouse)
is temporary unless --work-dir is given.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))

from helpers.pgserver import PgServer, postgres_server  # noqa: E402
from helpers.spark import SparkHost  # noqa: E402
from helpers.warehouse import dbt_executable  # noqa: E402
from idstitch import demo  # noqa: E402

ENGINES = ("duckdb", "postgres", "spark")
MESSAGE_TABLES = ("tracks", "pages", "identifies", "aliases")
SOURCE_SCHEMA = "segment"
TARGET_SCHEMA = "analytics"
BUILD_ARGS = ("build", "--resource-type", "seed", "--resource-type", "model")
MESSAGES_PER_PARTITION_STEP = 4_500_000 / 8  # --spark-shuffle-partitions auto: 8 per 4.5 M messages

# Spark settings of the dbt profile besides the shuffle partitions, as profiles.example.yml recommends them.
# Shuffled hash joins where adaptive execution finds every partition of the smaller side under 64 MB: once
# the value maps are too big to broadcast (10 MB), the facts and the shared-device sessions join the wide
# event rows to them, and a sort-merge join sorted those rows first (fct_tracks at 400,000 persons: task
# CPU 66 s sort-merge, 50 s hash, same shuffle). --spark-conf changes or adds settings.
SPARK_PROFILE_SETTINGS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.adaptive.maxShuffledHashJoinLocalMapThreshold": "64m",
}

CLOSURE_START = re.compile(r"idstitch closure (\w+): (\d+) directed links over (\d+) identifiers")
CLOSURE_ROUND = re.compile(r"idstitch closure (\w+): round (\d+): (\d+) links in, (\d+) jumps, (\d+) links left")


# ------------------------------------------------------------------------------------------------- results


@dataclass
class Closure:
    name: str
    rounds: int
    input_links: int  # directed links, both directions, distinct
    identifiers: int
    links_left: list[int] = field(default_factory=list)  # after each round
    jumps: list[int] = field(default_factory=list)  # pointer jumps in each round
    round_shuffled_rows: list[int] = field(default_factory=list)  # Spark: rows written to shuffles per round


@dataclass
class ModelStats:
    seconds: float
    shuffled_rows: int = 0  # Spark only: shuffle records written by the model's stages
    shuffled_bytes: int = 0
    spilled_bytes: int = 0  # disk
    tasks: int = 0
    skew: float = 0.0  # the model's longest stage: longest task / median task
    rows: int | None = None  # Spark only: rows in the model's table (views: None)
    task_cpu: float = 0.0  # Spark only: CPU seconds of the model's tasks


@dataclass
class Result:
    engine: str
    persons_generated: int
    messages: int
    load_seconds: float
    build_seconds: float  # wall time of the dbt invocation
    cpu_seconds: float  # CPU time of the engine's processes during the build (see cpu_meter)
    models: dict[str, ModelStats]
    closures: list[Closure]
    persons: int
    identified: int
    settings: dict[str, str] = field(default_factory=dict)
    # --incremental-share: messages held back from the full build, then the incremental run's model seconds
    new_messages: int = 0
    incremental: dict[str, float] = field(default_factory=dict)

    @property
    def model_seconds(self) -> float:
        return sum(m.seconds for m in self.models.values())


# ------------------------------------------------------------------------------------------------- dbt


def model_timings(run_results: dict) -> dict[str, tuple[float, float, float]]:
    """model name → (execution seconds, start, end) with start/end the epoch seconds of its compile+execute."""
    out = {}
    for r in run_results["results"]:
        if not r["unique_id"].startswith("model."):
            continue
        stamps = [_epoch_iso(t[k]) for t in r.get("timing", []) for k in ("started_at", "completed_at") if t.get(k)]
        out[r["unique_id"].split(".")[-1]] = (r["execution_time"], min(stamps, default=0.0),
                                              max(stamps, default=0.0))
    return out


def _epoch_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def closures_from_log(lines: list[tuple[float, str]]) -> dict[str, dict[str, Any]]:
    """The closure's log lines → {name: {'start': t, 'rounds': [(t, links in, jumps, links left), ...]}}."""
    found: dict[str, dict[str, Any]] = {}
    for ts, line in lines:
        if m := CLOSURE_START.search(line):
            found[m[1]] = {"start": ts, "rounds": []}
        elif m := CLOSURE_ROUND.search(line):
            found.setdefault(m[1], {"start": ts, "rounds": []})["rounds"].append(
                (ts, int(m[3]), int(m[4]), int(m[5])))
    return found


def dbt_env(work: Path) -> dict[str, str]:
    return {**os.environ, "DBT_PROFILES_DIR": str(work), "DBT_TARGET_PATH": str(work / "target"),
            "DBT_LOG_PATH": str(work / "logs"), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_USE_COLORS": "false"}


DbtRun = tuple[dict, list[tuple[float, str]], float]  # run_results, console lines with epoch seconds, wall


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process and of its children it has reaped (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / CLOCK_TICKS  # utime, stime, cutime, cstime


def tree_cpu(root: int) -> float:
    """CPU seconds of a process and of its descendants, live or reaped (a Postgres server's backends)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            parents.setdefault(int(stat.read_text().rsplit(")", 1)[1].split()[1]), []).append(int(stat.parent.name))
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        with contextlib.suppress(OSError):
            total += process_cpu(pid)
            todo += parents.get(pid, [])
    return total


def children_cpu() -> float:
    """CPU seconds of this process's reaped children (a dbt subprocess, with DuckDB inside it)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def dbt_subprocess(work: Path) -> DbtRun:
    """dbt in a child process (console lines time-stamped as they are read)."""
    started = time.time()
    proc = subprocess.Popen([dbt_executable(), *BUILD_ARGS], cwd=REPO_ROOT, env=dbt_env(work),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines = [(time.time(), line.rstrip("\n")) for line in proc.stdout]
    if proc.wait() != 0:
        sys.exit("dbt build failed:\n" + "\n".join(line for _, line in lines[-60:]))
    return json.loads((work / "target" / "run_results.json").read_text()), lines, time.time() - started


def dbt_in_process(work: Path, dbt_vars: dict[str, Any]) -> DbtRun:
    """dbt in this process (Spark: dbt-spark's session method uses this process's SparkSession)."""
    from dbt.cli.main import dbtRunner

    lines: list[tuple[float, str]] = []

    def collect(event: Any) -> None:
        with contextlib.suppress(Exception):
            if event.info.level in ("info", "warn", "error") and event.info.msg:
                lines.append((event.info.ts.seconds + event.info.ts.nanos / 1e9, str(event.info.msg)))

    argv = [*BUILD_ARGS, "--project-dir", str(REPO_ROOT), "--profiles-dir", str(work),
            "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
            "--vars", json.dumps(dbt_vars), "--no-send-anonymous-usage-stats", "--no-use-colors",
            "--log-level", "none", "--log-level-file", "info"]
    started = time.time()
    result = dbtRunner(callbacks=[collect]).invoke(argv)
    if result.exception is not None or not result.success:
        sys.exit(f"dbt build failed: {result.exception}\n" + "\n".join(line for _, line in lines[-60:]))
    return json.loads((work / "target" / "run_results.json").read_text()), lines, time.time() - started


def write_profile(work: Path, output: dict[str, Any]) -> None:
    work.mkdir(parents=True, exist_ok=True)
    profiles = {"idstitch": {"target": output["type"], "outputs": {output["type"]: output}}}
    (work / "profiles.yml").write_text(json.dumps(profiles, indent=2) + "\n")  # JSON is YAML


def invocation(dbt: DbtRun) -> str:
    return dbt[0]["metadata"]["invocation_id"]


def build_result(engine: str, persons: int, messages: int, load_seconds: float,
                 dbt: DbtRun, cpu: float, closure_rows: list[tuple],
                 person_row: tuple, settings: dict[str, str] | None = None) -> Result:
    run_results, lines, wall = dbt
    logged = closures_from_log(lines)
    closures = [Closure(name, int(rounds), int(links), int(identifiers),
                        [r[3] for r in logged.get(name, {}).get("rounds", [])],
                        [r[2] for r in logged.get(name, {}).get("rounds", [])])
                for name, rounds, links, identifiers in closure_rows]
    models = {name: ModelStats(seconds) for name, (seconds, _, _) in model_timings(run_results).items()}
    return Result(engine, persons, messages, load_seconds, wall, cpu, models, closures, int(person_row[0]),
                  int(person_row[1] or 0), settings or {})


CLOSURE_SQL = ("select closure_name, rounds, input_links, identifiers from {schema}.closure_runs "
               "where invocation_id = '{invocation}' order by closure_name")
PERSONS_SQL = ("select count(*), sum(case when is_identified then 1 else 0 end) from {schema}.dim_person")


# ------------------------------------------------------------------------------------------------- new data

Sql = Callable[[str], list[tuple]]


def hold_back(engine: str, sql: Sql, schema: str, share: float) -> int:
    """Move the newest `share` of the messages (by received_at, all tables together) to hold_<table>; the
    number of messages held back."""
    union = " union all ".join(f"select received_at from {schema}.{t}" for t in MESSAGE_TABLES)
    ((total,),) = sql(f"select count(*) from ({union}) as r")
    ((cutoff,),) = sql(f"select received_at from ({union}) as r where received_at is not null "
                       f"order by received_at desc limit 1 offset {round(total * share)}")
    newer = f"received_at > timestamp '{cutoff:%Y-%m-%d %H:%M:%S.%f}'"
    held = 0
    for table in MESSAGE_TABLES:
        sql(f"create table {schema}.hold_{table} as select * from {schema}.{table} where {newer}")
        ((count,),) = sql(f"select count(*) from {schema}.hold_{table}")
        held += count
        if engine == "spark":  # parquet has no DELETE, and a table cannot be overwritten by a query reading it
            sql(f"create table {schema}.kept_{table} as select * from {schema}.{table} "
                f"where not coalesce({newer}, false)")
            sql(f"insert overwrite table {schema}.{table} select * from {schema}.kept_{table}")
            sql(f"drop table {schema}.kept_{table}")
        else:
            sql(f"delete from {schema}.{table} where {newer}")
    return held


def release(sql: Sql, schema: str) -> None:
    for table in MESSAGE_TABLES:
        sql(f"insert into {schema}.{table} select * from {schema}.hold_{table}")
        sql(f"drop table {schema}.hold_{table}")


def builds(run_dbt: Callable[[], DbtRun], cpu_meter: Callable[[], float],
           sql: Callable[[], contextlib.AbstractContextManager[Sql]],
           schema: str, engine: str, share: float) -> tuple[DbtRun, float, int, dict[str, float]]:
    """The full build; with a share, on all but the newest share of messages, which then arrive for an
    incremental build: (full build, its CPU seconds, messages held back, incremental model seconds)."""
    held, incremental = 0, {}
    if share:
        with sql() as execute:
            held = hold_back(engine, execute, schema, share)
    cpu = cpu_meter()
    full = run_dbt()
    cpu = cpu_meter() - cpu
    if share:
        with sql() as execute:
            release(execute, schema)
        incremental = {name: seconds for name, (seconds, _, _) in model_timings(run_dbt()[0]).items()}
    return full, cpu, held, incremental


# ------------------------------------------------------------------------------------------------- engines


def run_duckdb(csv_dir: Path, work: Path, persons: int, memory: str, share: float) -> Result:
    import duckdb

    work.mkdir(parents=True, exist_ok=True)
    db = work / "idstitch.duckdb"
    started = time.time()
    counts = demo.load_duckdb(db, SOURCE_SCHEMA, csv_dir)
    load = time.time() - started
    settings = {"memory_limit": memory}
    write_profile(work, {"type": "duckdb", "path": str(db), "schema": "main", "threads": 1, "settings": settings})

    @contextlib.contextmanager
    def sql() -> Iterator[Sql]:  # a connection only between builds: dbt's process needs the file
        con = duckdb.connect(str(db))
        try:
            yield lambda q: con.execute(q).fetchall()
        finally:
            con.close()

    dbt, cpu, held, incremental = builds(lambda: dbt_subprocess(work), children_cpu, sql, SOURCE_SCHEMA, "duckdb",
                                         share)
    con = duckdb.connect(str(db), read_only=True)
    try:
        closures = con.execute(CLOSURE_SQL.format(schema="main", invocation=invocation(dbt))).fetchall()
        person_row = con.execute(PERSONS_SQL.format(schema="main")).fetchone()
    finally:
        con.close()
    result = build_result("duckdb", persons, sum(counts[t] for t in MESSAGE_TABLES), load, dbt, cpu, closures,
                          person_row, settings)
    result.new_messages, result.incremental = held, incremental
    return result


def run_postgres(csv_dir: Path, work: Path, persons: int, server: PgServer, share: float) -> Result:
    work.mkdir(parents=True, exist_ok=True)
    dbname = f"bench_{persons}"
    server.drop_database(dbname)
    server.create_database(dbname)
    try:
        started = time.time()
        counts = demo.load_postgres({"host": server.host, "port": server.port, "user": server.user,
                                     "dbname": dbname}, SOURCE_SCHEMA, csv_dir)
        conn = server.connect(dbname)
        conn.cursor().execute("analyze")
        load = time.time() - started
        write_profile(work, {"type": "postgres", "host": server.host, "port": server.port, "user": server.user,
                             "password": "", "dbname": dbname, "schema": TARGET_SCHEMA, "threads": 1})

        def execute(query: str) -> list[tuple]:
            with conn.cursor() as cur:
                cur.execute(query)
                return cur.fetchall() if cur.description else []

        @contextlib.contextmanager
        def sql() -> Iterator[Sql]:
            yield execute
            execute("analyze")  # as after the load: the planner sees the tables as they are

        assert server.pid is not None
        dbt, cpu, held, incremental = builds(lambda: dbt_subprocess(work), lambda: tree_cpu(server.pid), sql,
                                             SOURCE_SCHEMA, "postgres", share)
        cur = conn.cursor()
        cur.execute(CLOSURE_SQL.format(schema=TARGET_SCHEMA, invocation=invocation(dbt)))
        closures = cur.fetchall()
        cur.execute(PERSONS_SQL.format(schema=TARGET_SCHEMA))
        person_row = cur.fetchone()
        conn.close()
    finally:
        server.drop_database(dbname)  # frees the disk before the next size
    result = build_result("postgres", persons, sum(counts[t] for t in MESSAGE_TABLES), load, dbt, cpu, closures,
                          person_row)
    result.new_messages, result.incremental = held, incremental
    return result


def shuffle_partitions(messages: int, setting: str) -> int:
    if setting != "auto":
        return int(setting)
    steps = max(1, round(messages / MESSAGES_PER_PARTITION_STEP))
    return max(8, 2 ** round(math.log2(steps)))


@contextlib.contextmanager
def spark_session(work: Path, driver_memory: str) -> Iterator[SparkHost]:
    """One local[2] session for the script, with the UI's status API on (stage metrics) and kept stages."""
    host = SparkHost(work / "spark")
    host.settings.update({
        "spark.app.name": "idstitch-bench",
        "spark.driver.memory": driver_memory,
        "spark.ui.enabled": "true",
        "spark.ui.port": "0",  # any free port: other sessions may run beside this one
        "spark.ui.retainedJobs": "100000",
        "spark.ui.retainedStages": "100000",
        "spark.sql.ui.retainedExecutions": "100",
        "spark.local.dir": str(work / "spark" / "local"),
    })
    try:
        yield host
    finally:
        host.stop()


def spark_load(host: SparkHost, csv_dir: Path, schema: str) -> dict[str, int]:
    """The CSVs as parquet tables: every field read as text (an unquoted empty field is NULL, a quoted one
    the empty string, as the other loaders read them), timestamps cast through timestamp_ntz."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    session = host.session
    session.sql(f"create schema if not exists {schema}")
    counts = {}
    for table in MESSAGE_TABLES:
        columns = demo.COLUMNS[table]
        df = session.read.csv(str(csv_dir / f"{table}.csv"), header=True, quote='"', escape='"',
                              nullValue="\u0000", mode="FAILFAST",
                              schema=StructType([StructField(c, StringType()) for c in columns]))
        df = df.select(*[F.col(c).cast("timestamp_ntz").cast("timestamp").alias(c)
                         if c in demo.TIMESTAMP_COLUMNS else F.col(c) for c in columns])
        session.sql(f"drop table if exists {schema}.{table}")
        df.write.format("parquet").saveAsTable(f"{schema}.{table}")
        counts[table] = session.table(f"{schema}.{table}").count()
    return counts


def spark_stages(host: SparkHost) -> list[dict[str, Any]]:
    """Completed stages from the session's status API, with a task-time distribution each."""
    base = host.session.sparkContext.uiWebUrl.rstrip("/") + "/api/v1/applications"
    app_id = host.session.sparkContext.applicationId
    url = f"{base}/{app_id}/stages?status=complete&withSummaries=true&quantiles=0.5,1.0"
    with urllib.request.urlopen(url, timeout=120) as response:
        return json.load(response)


def _epoch_gmt(text: str) -> float:
    return datetime.strptime(text.replace("GMT", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def attribute_stages(result: Result, run_results: dict, lines: list[tuple[float, str]],
                     stages: list[dict[str, Any]]) -> None:
    """Add each stage's shuffle, spill and task figures to the model (and closure round) it ran in."""
    windows = model_timings(run_results)
    logged = closures_from_log(lines)
    closure_model = {c.name: f"int_idstitch__{c.name}" for c in result.closures}
    rounds: dict[str, list[int]] = {c.name: [0] * len(logged.get(c.name, {}).get("rounds", []))
                                    for c in result.closures}
    longest: dict[str, float] = {}
    for stage in stages:
        if "submissionTime" not in stage:
            continue
        submitted = _epoch_gmt(stage["submissionTime"])
        model = next((name for name, (_, start, end) in windows.items() if start <= submitted <= end), None)
        if model is None:
            continue
        stats = result.models[model]
        stats.shuffled_rows += stage.get("shuffleWriteRecords", 0)
        stats.shuffled_bytes += stage.get("shuffleWriteBytes", 0)
        stats.spilled_bytes += stage.get("diskBytesSpilled", 0)
        stats.tasks += stage.get("numTasks", 0)
        stats.task_cpu += stage.get("executorCpuTime", 0) / 1e9
        durations = (stage.get("taskMetricsDistributions") or {}).get("executorRunTime") or []
        if len(durations) == 2 and stage.get("executorRunTime", 0) > longest.get(model, -1):
            longest[model] = stage["executorRunTime"]
            median, most = durations
            stats.skew = most / median if median else 0.0
        for name, model_name in closure_model.items():
            if model_name != model:
                continue
            for i, (ts, *_rest) in enumerate(logged.get(name, {}).get("rounds", [])):
                previous = logged[name]["rounds"][i - 1][0] if i else logged[name]["start"]
                if previous <= submitted <= ts:
                    rounds[name][i] += stage.get("shuffleWriteRecords", 0)
    for closure in result.closures:
        closure.round_shuffled_rows = rounds.get(closure.name, [])


def run_spark(csv_dir: Path, work: Path, persons: int, host: SparkHost, partitions: int, share: float,
              spark_conf: dict[str, str]) -> Result:
    work.mkdir(parents=True, exist_ok=True)
    source, target = f"{SOURCE_SCHEMA}_p{persons}", f"{TARGET_SCHEMA}_p{persons}"
    session = host.session
    session.conf.set("spark.sql.shuffle.partitions", str(partitions))
    started = time.time()
    counts = spark_load(host, csv_dir, source)
    load = time.time() - started
    parameters = {**spark_conf, "spark.sql.shuffle.partitions": str(partitions)}
    settings = {"spark.driver.memory": host.settings["spark.driver.memory"], **parameters}
    settings.pop("spark.sql.session.timeZone")
    write_profile(work, {"type": "spark", "method": "session", "host": "localhost", "schema": target,
                         "threads": 1, "server_side_parameters": parameters})

    @contextlib.contextmanager
    def sql() -> Iterator[Sql]:
        yield lambda q: [tuple(row) for row in session.sql(q).collect()]

    jvm = session.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    dbt, cpu, held, incremental = builds(lambda: dbt_in_process(work, {"idstitch__source_schema": source}),
                                         lambda: process_cpu(jvm), sql, source, "spark", share)
    closures = [tuple(r) for r in session.sql(CLOSURE_SQL.format(schema=target, invocation=invocation(dbt))).collect()]
    person_row = tuple(session.sql(PERSONS_SQL.format(schema=target)).collect()[0])
    result = build_result("spark", persons, sum(counts[t] for t in MESSAGE_TABLES), load, dbt, cpu, closures,
                          person_row, settings)
    attribute_stages(result, dbt[0], dbt[1], spark_stages(host))
    count_rows(host, result, dbt[0])
    result.new_messages, result.incremental = held, incremental
    return result


def count_rows(host: SparkHost, result: Result, run_results: dict) -> None:
    """Rows in each model's table (parquet footers: cheap); views are left out."""
    session = host.session
    for r in run_results["results"]:
        name, relation = r["unique_id"].split(".")[-1], r.get("relation_name")
        if r["unique_id"].startswith("model.") and relation:
            schema, table = relation.split(".")[-2:]
            if session.catalog.getTable(f"{schema}.{table}").tableType != "VIEW":
                result.models[name].rows = session.table(f"{schema}.{table}").count()


# ------------------------------------------------------------------------------------------------- data


def csv_dirs(sizes: list[int], seed: int, root: Path, given: dict[int, Path]) -> dict[int, Path]:
    """Each size's CSV directory: given, already generated under root, or generated now."""
    out = {}
    for persons in sizes:
        directory = given.get(persons) or root / f"persons-{persons}-seed-{seed}"
        complete = all((directory / f"{t}.csv").is_file() for t in demo.TABLES)
        if persons in given and not complete:
            sys.exit(f"--csv {persons}={directory}: expected " + ", ".join(f"{t}.csv" for t in demo.TABLES))
        if not complete:
            started = time.time()
            counts = demo.write_csv(demo.generate(persons, seed=seed), directory)
            print(f"generated {persons:,} persons (seed {seed}) in {time.time() - started:.0f}s into {directory}: "
                  + ", ".join(f"{t}={n:,}" for t, n in counts.items()), flush=True)
        out[persons] = directory
    return out


# ------------------------------------------------------------------------------------------------- report


def _mb(n: float) -> str:
    return f"{n / 1e6:,.0f}"


def report(results: list[Result]) -> None:
    sizes = sorted({r.persons_generated for r in results})
    engines = [e for e in ENGINES if any(r.engine == e for r in results)]
    by = {(r.engine, r.persons_generated): r for r in results}

    print("\n== full build, dbt on one thread (seeds and models; data tests left out) ==")
    print(f"{'engine':<9} {'persons':>9} {'messages':>11} {'load s':>8} {'build s':>8} {'models s':>9} "
          f"{'cpu s':>8} {'persons out':>12} {'identified':>11}  settings")
    for persons in sizes:
        for engine in engines:
            if r := by.get((engine, persons)):
                print(f"{engine:<9} {persons:>9,} {r.messages:>11,} {r.load_seconds:>8.1f} {r.build_seconds:>8.1f} "
                      f"{r.model_seconds:>9.1f} {r.cpu_seconds:>8.1f} {r.persons:>12,} {r.identified:>11,}  "
                      + ", ".join(f"{k}={v}" for k, v in r.settings.items()))
        outs = {(by[(e, persons)].persons, by[(e, persons)].identified) for e in engines if (e, persons) in by}
        if len(outs) > 1:
            print(f"  !! the engines disagree on persons / identified at {persons:,}: {sorted(outs)}")
    print("(cpu s: CPU time of the engine's processes during the build — DuckDB: the dbt process it runs in;\n"
          " Postgres: the server's processes; Spark: the JVM. Steadier than seconds when other work shares the cores)")

    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        print(f"\n== growth, {large:,} / {small:,} persons ==")
        for engine in engines:
            a, b = by.get((engine, small)), by.get((engine, large))
            if a and b:
                target = "  (target ≤ 4.5× for 4× data)" if engine == "spark" else ""
                print(f"{engine:<9} data {b.messages / a.messages:.2f}×   model time {b.model_seconds:.1f}s / "
                      f"{a.model_seconds:.1f}s = {b.model_seconds / a.model_seconds:.2f}×   "
                      f"cpu {b.cpu_seconds / a.cpu_seconds:.2f}×   "
                      f"build wall {b.build_seconds / a.build_seconds:.2f}×{target}")

    print("\n== closures (rounds; directed links in, then left after each round; pointer jumps per round) ==")
    for persons in sizes:
        for engine in engines:
            if r := by.get((engine, persons)):
                for c in r.closures:
                    left = " → ".join(f"{n:,}" for n in [c.input_links, *c.links_left])
                    print(f"{engine:<9} {persons:>9,} {c.name:<17} {c.rounds} rounds over {c.identifiers:,} "
                          f"identifiers: {left}; jumps {'/'.join(map(str, c.jumps))}")

    if any(r.incremental for r in results):
        print("\n== incremental run: the newest messages arrive after a full build on the rest ==")
        for r in results:
            if r.incremental:
                total = sum(r.incremental.values())
                top = sorted(r.incremental.items(), key=lambda kv: -kv[1])[:6]
                print(f"{r.engine:<9} {r.persons_generated:>9,} {r.new_messages:,} new messages "
                      f"({r.new_messages / r.messages:.1%}): models {total:.1f}s vs full build {r.model_seconds:.1f}s "
                      f"= {total / r.model_seconds:.0%}; largest: " + ", ".join(f"{n} {t:.1f}" for n, t in top))

    spark = [by[("spark", p)] for p in sizes if ("spark", p) in by]
    if not spark:
        return
    last = spark[-1]
    growth = len(spark) >= 2

    def columns(value: Callable[[ModelStats], float], name: str) -> str:
        cells = "".join(f" {value(r.models[name]) if name in r.models else float('nan'):8.1f}" for r in spark)
        first, m = spark[0].models.get(name), last.models[name]
        if growth:
            cells += f" {value(m) / value(first):5.1f}×" if first and value(first) > 0 else "       "
        return cells

    def heading(label: str) -> str:
        return "".join(f" {label + '@' + f'{r.persons_generated // 1000}k':>8}" for r in spark) + (
            "  growth" if growth else "")

    print(f"\n== Spark, model by model (seconds; task CPU seconds; shuffle, spill, tasks and skew at "
          f"{last.persons_generated:,} persons) ==")
    print(f"{'model':<40}{heading('s')}{heading('cpu')} {'rows':>11} {'shuffled rows':>14} "
          f"{'shuffled MB':>12} {'spilled MB':>11} {'tasks':>6} {'skew':>5}")
    for name in sorted(last.models, key=lambda n: -last.models[n].seconds):
        m = last.models[name]
        rows = "view" if m.rows is None else f"{m.rows:,}"
        print(f"{name:<40}{columns(lambda x: x.seconds, name)}"
              f"{columns(lambda x: x.task_cpu, name)} {rows:>11} {m.shuffled_rows:>14,} "
              f"{_mb(m.shuffled_bytes):>12} {_mb(m.spilled_bytes):>11} {m.tasks:>6} {m.skew:>5.1f}")
    totals = [sum(m.task_cpu for m in r.models.values()) for r in spark]
    print("task CPU seconds, all models: " + " / ".join(f"{t:.1f}" for t in totals)
          + (f" = {totals[-1] / totals[0]:.2f}×" if growth and totals[0] else ""))
    print("(skew: in the model's longest stage, the longest task's run time / the median task's)")
    print("\n== Spark, closure rounds: rows written to shuffles by each round's statements ==")
    for r in spark:
        for c in r.closures:
            rows = ", ".join(f"round {i}: {n:,}" for i, n in enumerate(c.round_shuffled_rows, start=1))
            print(f"{r.persons_generated:>9,} {c.name:<17} {rows or '(no round)'}")


def save(results: list[Result], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")


# ------------------------------------------------------------------------------------------------- main


def _setting(text: str) -> tuple[str, str]:
    key, _, value = text.partition("=")
    if not value:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _size_dir(text: str) -> tuple[int, Path]:
    persons, _, directory = text.partition("=")
    if not directory:
        raise argparse.ArgumentTypeError(f"expected PERSONS=DIR, got {text!r}")
    return int(persons), Path(directory)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, nargs="+", default=[100_000, 400_000])
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--csv", type=_size_dir, action="append", default=[], metavar="PERSONS=DIR",
                        help="reuse the CSVs in DIR for that size (read only)")
    parser.add_argument("--csv-root", type=Path, default=Path(tempfile.gettempdir()) / "idstitch-bench-csv",
                        help="where CSVs are generated and looked for (default: %(default)s)")
    parser.add_argument("--work-dir", type=Path, help="keep databases and the Spark warehouse here")
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "bench" / "out" / "engines.json",
                        help="figures as JSON, written after each build (default: %(default)s)")
    parser.add_argument("--duckdb-memory", default="8GB", help="DuckDB memory_limit (default: %(default)s)")
    parser.add_argument("--spark-driver-memory", default="10g", help="(default: %(default)s)")
    parser.add_argument("--incremental-share", type=float, default=0.0,
                        help="also measure an incremental run: the full build leaves out this share of the "
                             "messages (the newest by received_at), which then arrive for an incremental build")
    parser.add_argument("--spark-warmup", type=int, default=2000, metavar="PERSONS",
                        help="build once on this many generated persons before measuring Spark, so that the "
                             "first measured build does not pay for the JVM warming up (0 = no warm-up; "
                             "default %(default)s)")
    parser.add_argument("--spark-conf", type=_setting, action="append", default=[], metavar="KEY=VALUE",
                        help="a Spark SQL setting for the dbt profile, added to or replacing "
                             + ", ".join(f"{k}={v}" for k, v in SPARK_PROFILE_SETTINGS.items()))
    parser.add_argument("--spark-shuffle-partitions", default="auto",
                        help="a number, or auto: 8 per 4.5 M messages, a power of two, at least 8")
    args = parser.parse_args()

    sizes = sorted(set(args.persons))
    sources = csv_dirs(sizes, args.seed, args.csv_root, dict(args.csv))
    spark_conf = {**SPARK_PROFILE_SETTINGS, **dict(args.spark_conf)}
    warmup = args.spark_warmup if "spark" in args.engines and args.spark_warmup not in sizes else 0
    if warmup:
        sources.update(csv_dirs([warmup], args.seed, args.csv_root, {}))
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="idstitch-engines-"))
    work.mkdir(parents=True, exist_ok=True)
    # the Postgres server runs as the postgres OS user (initdb refuses root) with its files under work:
    # mkdtemp's 0700 would keep it out
    work.chmod(0o755)
    results: list[Result] = []

    def done(result: Result) -> None:
        results.append(result)
        save(results, args.json)
        rounds = ", ".join(f"{c.name} {c.rounds}" for c in result.closures)
        print(f"{result.engine} at {result.persons_generated:,} persons: {result.messages:,} messages loaded in "
              f"{result.load_seconds:.0f}s, models {result.model_seconds:.1f}s summed, "
              f"build {result.build_seconds:.0f}s wall; closure rounds {rounds}", flush=True)

    try:
        for engine in args.engines:
            if engine == "duckdb":
                for persons in sizes:
                    done(run_duckdb(sources[persons], work / f"duckdb-{persons}", persons, args.duckdb_memory,
                                    args.incremental_share))
                    shutil.rmtree(work / f"duckdb-{persons}", ignore_errors=True)
            elif engine == "postgres":
                with postgres_server(parent_dir=work) as server:
                    for persons in sizes:
                        done(run_postgres(sources[persons], work / f"postgres-{persons}", persons, server,
                                          args.incremental_share))
            else:
                with spark_session(work, args.spark_driver_memory) as host:
                    if warmup:
                        started = time.time()
                        run_spark(sources[warmup], work / f"spark-{warmup}", warmup, host, 8, 0.0, spark_conf)
                        print(f"spark warm-up build on {warmup:,} persons: {time.time() - started:.0f}s (not measured)",
                              flush=True)
                    for persons in sizes:
                        messages = sum(_count_lines(sources[persons] / f"{t}.csv") for t in MESSAGE_TABLES)
                        partitions = shuffle_partitions(messages, args.spark_shuffle_partitions)
                        done(run_spark(sources[persons], work / f"spark-{persons}", persons, host, partitions,
                                       args.incremental_share, spark_conf))
        report(results)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def _count_lines(path: Path) -> int:
    """Data rows of a CSV (lines less the header; the demo's values hold no line breaks)."""
    with path.open("rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b"")) - 1


if __name__ == "__main__":
    sys.exit(main())
