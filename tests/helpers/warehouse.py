"""A throwaway dbt warehouse (DuckDB file, fresh Postgres database or Spark databases) with its own profiles dir.

Typical use (the pytest fixtures in ``tests/conftest.py`` build these for you)::

    wh.load_tables("segment", {"tracks": [{"id": "m1", "anonymous_id": "a1", "timestamp": "2024-01-01 10:00"}]})
    wh.run_dbt("build", vars={"idstitch__aliases_enabled": False})
    rows = wh.query_dicts(f"select * from {wh.relation('dim_person')}")

Loading semantics are the same on both engines: columns named ``timestamp``/``received_at``/``sent_at`` or
ending in ``_at`` are ``timestamp`` (timezone offsets in the text are ignored, as Postgres does for
``timestamp``), everything else ``text``, unless ``column_types`` says otherwise. In CSV files an unquoted
empty field is NULL and a quoted one (``""``) is the empty string; in row dicts ``None`` is NULL.
``load_tables(..., append=True)`` adds rows to existing tables instead of recreating them (incremental runs).

Spark (``Warehouse("spark", dir, spark=host)``, see ``helpers.spark``): dbt runs in this process through
dbt-spark's ``session`` method, on the process's one SparkSession, whose catalog every Spark warehouse shares.
So that warehouses stay apart, each Spark warehouse suffixes every schema (database) name with its own token:
``load_tables("segment", ...)`` writes ``segment_<token>``, ``relation()``/``schema`` name the suffixed
schemas, and ``run_dbt`` points ``idstitch__source_schema`` at the suffixed name. Raw tables are parquet.

dbt runs against the repository's project unless the warehouse works on a private copy of it
(``wh.use_project_copy()``: dbt_project.yml and the directories it references, copied into the warehouse's
directory), which a test may edit — e.g. append a value to a seed between runs — without touching the repo.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeAlias

from typing_extensions import Self

from idstitch.demo import COLUMNS
from idstitch.runner import temporary_environment

from .pgserver import PgServer
from .spark import SparkHost, invoke_dbt

REPO_ROOT = Path(__file__).resolve().parents[2]
PROFILE_NAME = "idstitch"
Target: TypeAlias = Literal["duckdb", "postgres", "spark"]
Rows: TypeAlias = Sequence[Mapping[str, Any]]
TableData: TypeAlias = "Path | str | Rows"

TIMESTAMP_COLUMNS = frozenset({"timestamp", "received_at", "sent_at"})

# Columns of the raw tables in docs/CONTRACT.md: used only to create an *empty* table (no rows, no CSV
# header, no column_types), so a scenario can say ``"aliases": []``.
CONTRACT_COLUMNS = {table: list(columns) for table, columns in COLUMNS.items() if table != "truth"}


# The Spark session conf idstitch.hash_key, from the environment; '' (no key) when unset, so that a run
# without a key does not inherit the previous run's key from the process's one SparkSession.
SPARK_HASH_KEY_ENV = "DBT_ENV_SECRET_IDSTITCH_HASH_KEY"
SPARK_HASH_KEY_PARAMETER = {"idstitch.hash_key": "{{ env_var('" + SPARK_HASH_KEY_ENV + "', '') }}"}


def default_column_type(column: str) -> str:
    return "timestamp" if column in TIMESTAMP_COLUMNS or column.endswith("_at") else "text"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_spark_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


# the harness's SQL types (column_types, default_column_type) in Spark's spelling
_SPARK_TYPES = {"text": "string", "varchar": "string", "integer": "int", "double precision": "double"}


def spark_type(sql_type: str) -> str:
    return _SPARK_TYPES.get(sql_type.lower(), sql_type.lower())


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _csv_value(value: Any) -> str:
    """One CSV field: NULL is an unquoted empty field, every other value is quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        text = value.isoformat(sep=" ")
    elif isinstance(value, dt.date):
        text = value.isoformat()
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, sort_keys=True)
    else:
        text = str(value)
    return '"' + text.replace('"', '""') + '"'


def rows_to_csv(columns: Sequence[str], rows: Rows) -> str:
    """CSV text (with header) that both engines load back exactly, NULL and '' kept apart."""
    out = [",".join(_csv_value(c) for c in columns)]
    out += [",".join(_csv_value(row.get(c)) for c in columns) for row in rows]
    return "\n".join(out) + "\n"


def _csv_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), None)
    if not header:
        raise ValueError(f"{path}: CSV file has no header row")
    return header


class Warehouse:
    """A dbt target to run the package against, isolated in its own temporary directory."""

    def __init__(
        self,
        target: Target,
        base_dir: Path,
        pg: PgServer | None = None,
        project_dir: Path | None = None,
        spark: SparkHost | None = None,
    ) -> None:
        if target not in ("duckdb", "postgres", "spark"):
            raise ValueError(f"unknown target {target!r}: expected 'duckdb', 'postgres' or 'spark'")
        if target == "postgres" and pg is None:
            raise ValueError("a postgres Warehouse needs a running PgServer (pg=...)")
        if target == "spark" and spark is None:
            raise ValueError("a spark Warehouse needs a SparkHost (spark=...)")
        self.target: Target = target
        self.base_dir = Path(base_dir).resolve()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.profiles_dir = self.base_dir / "profiles"
        self.target_path = self.base_dir / "target"
        self.log_path = self.base_dir / "logs"
        self.pg = pg
        self.spark = spark
        self.token = uuid.uuid4().hex[:8]  # Spark: the suffix of this warehouse's schema names
        # the dbt project dbt runs against: the repository, or a private copy (use_project_copy)
        self.project_dir = Path(project_dir).resolve() if project_dir is not None else REPO_ROOT
        # added to every dbt subprocess's environment (e.g. IDSTITCH_HASH_KEY, PGOPTIONS); Spark: to this
        # process's environment while dbt runs in it
        self.extra_env: dict[str, str] = {}
        self.last_result: subprocess.CompletedProcess[str] | None = None
        self.last_stdout: str = ""
        self._pg_conn: Any = None
        self._closed = False
        if target == "duckdb":
            self.schema = "main"
            self.database = "idstitch"  # dbt-duckdb names the catalog after the file
            self.duckdb_path = self.base_dir / "idstitch.duckdb"
            output: dict[str, Any] = {
                "type": "duckdb",
                "path": str(self.duckdb_path),
                "schema": self.schema,
                "threads": 2,
                # hands IDSTITCH_HASH_KEY (if set) to DuckDB for idstitch__personal_columns
                "plugins": [{"module": "idstitch.duckdb_plugin"}],
            }
        elif target == "spark":
            assert spark is not None
            self.database = "spark_catalog"
            self.schema = self.schema_name("analytics")
            output = {
                "type": "spark",
                "method": "session",
                "host": "localhost",  # unused by the session method, required by the profile
                "schema": self.schema,
                "threads": 1,
                # the personal-data hash key as the example profile passes it (README "Personal data")
                "server_side_parameters": {**spark.profile_settings(), **SPARK_HASH_KEY_PARAMETER},
            }
        else:
            assert pg is not None
            self.schema = "analytics"
            self.database = f"idstitch_{uuid.uuid4().hex[:12]}"
            pg.create_database(self.database)
            output = {
                "type": "postgres",
                "host": pg.host,
                "port": pg.port,
                "user": pg.user,
                "pass": "",
                "dbname": self.database,
                "schema": self.schema,
                "threads": 2,
                "connect_timeout": 10,
            }
        self.profiles_dir.mkdir(exist_ok=True)
        profiles = {PROFILE_NAME: {"target": target, "outputs": {target: output}}}
        # JSON is valid YAML, and needs no quoting rules of its own.
        (self.profiles_dir / "profiles.yml").write_text(json.dumps(profiles, indent=2) + "\n")

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release connections; a Postgres warehouse also drops its database."""
        if self._closed:
            return
        self._closed = True
        if self._pg_conn is not None:
            with contextlib.suppress(Exception):
                self._pg_conn.close()
            self._pg_conn = None
        if self.target == "postgres" and self.pg is not None:
            with contextlib.suppress(Exception):  # the server may already be gone at session teardown
                self.pg.drop_database(self.database)
        if self.target == "spark" and self.spark is not None:
            with contextlib.suppress(Exception):
                session = self.spark.session
                for (name,) in session.sql(f"show databases like '*{self.token}*'").collect():
                    session.sql(f"drop database if exists {quote_spark_ident(name)} cascade")

    def disconnect(self) -> None:
        """Close this object's own database connection (the next query opens a new one): needed before
        the Postgres database is copied or dropped, or when the server goes away under it."""
        if self._pg_conn is not None:
            with contextlib.suppress(Exception):
                self._pg_conn.close()
            self._pg_conn = None

    def __repr__(self) -> str:
        return (
            f"Warehouse({self.target}, database={self.database}, schema={self.schema}, dir={self.base_dir})"
        )

    # ------------------------------------------------------------------ SQL access

    def schema_name(self, schema: str) -> str:
        """The schema as this warehouse names it: Spark warehouses suffix their token (module docstring)."""
        if self.target != "spark" or self.token in schema:
            return schema
        return f"{schema}_{self.token}"

    def quote(self, name: str) -> str:
        return quote_spark_ident(name) if self.target == "spark" else quote_ident(name)

    def relation(self, name: str, schema: str | None = None) -> str:
        """Quoted ``schema.name`` (target schema by default), for engine-neutral test SQL."""
        return f"{self.quote(self.schema_name(schema or self.schema))}.{self.quote(name)}"

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[Any]:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        if self.target == "duckdb":
            import duckdb

            # A connection per call: DuckDB locks the file, and dbt (another process) must be able to open it.
            con = duckdb.connect(str(self.duckdb_path))
            try:
                yield con
            finally:
                con.close()
        else:
            assert self.pg is not None
            if self._pg_conn is None or self._pg_conn.closed:
                self._pg_conn = self.pg.connect(self.database, autocommit=True)
            with self._pg_conn.cursor() as cur:
                yield cur

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one statement; rows as tuples ([] for statements without a result)."""
        if self.target == "spark":
            return self._spark_query(sql)[1]
        with self._cursor() as cur:
            cur.execute(sql)
            if cur.description is None:
                return []
            return [tuple(r) for r in cur.fetchall()]

    def query_dicts(self, sql: str) -> list[dict[str, Any]]:
        """Run one statement; rows as ``{column: value}`` dicts."""
        if self.target == "spark":
            names, rows = self._spark_query(sql)
            return [dict(zip(names, r, strict=True)) for r in rows]
        with self._cursor() as cur:
            cur.execute(sql)
            if cur.description is None:
                return []
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def execute(self, sql: str) -> None:
        self.query(sql)

    def column_names(self, table: str, schema: str | None = None) -> list[str]:
        """The columns of ``schema.table`` (target schema by default), in order."""
        schema = self.schema_name(schema or self.schema)
        if self.target == "spark":
            assert self.spark is not None
            return list(self.spark.session.table(f"{quote_spark_ident(schema)}.{quote_spark_ident(table)}").columns)
        return [
            c for (c,) in self.query(
                "select column_name from information_schema.columns where table_schema = "
                f"{_quote_literal(schema)} and table_name = {_quote_literal(table)} order by ordinal_position"
            )
        ]

    def _spark_query(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Spark: column names and rows. Timestamps come back as naive UTC datetimes whatever this
        process's time zone is (pyspark would convert them to local time)."""
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        assert self.spark is not None
        from pyspark.sql import functions as F
        from pyspark.sql.types import TimestampType

        df = self.spark.session.sql(sql)
        names = list(df.columns)
        stamps = [isinstance(f.dataType, TimestampType) for f in df.schema.fields]
        if any(stamps):
            df = df.select(
                *[F.unix_micros(df[i]) if stamp else df[i] for i, stamp in enumerate(stamps)]  # type: ignore[arg-type]
            )
        epoch = dt.datetime(1970, 1, 1)
        rows = [
            tuple(
                epoch + dt.timedelta(microseconds=v) if stamp and v is not None else v
                for v, stamp in zip(row, stamps, strict=True)
            )
            for row in df.collect()
        ]
        return names, rows

    # ------------------------------------------------------------------ loading

    def load_tables(
        self,
        schema: str,
        tables: Mapping[str, TableData],
        column_types: Mapping[str, Mapping[str, str]] | None = None,
        append: bool = False,
    ) -> None:
        """(Re)create ``schema.<table>`` for each entry, from a CSV path or a list of row dicts.

        ``column_types[table]`` overrides column types (any SQL type both engines know, e.g. ``bigint``)
        and may add columns that the data lacks (loaded as NULL).

        With ``append`` a table that already exists is kept and the rows are added to it (its columns must
        include the data's; missing ones stay NULL); a table that does not exist yet is created as usual.
        """
        column_types = column_types or {}
        self.execute(f"create schema if not exists {self.quote(self.schema_name(schema))}")
        for table, data in tables.items():
            types = dict(column_types.get(table, {}))
            keep = append and self.table_exists(table, schema)
            if isinstance(data, (str, os.PathLike)):
                path = Path(data)
                data_columns = _csv_header(path)
                self._load(schema, table, data_columns, types, csv_path=path, append=keep)
            else:
                rows = list(data)
                data_columns = list(dict.fromkeys(k for row in rows for k in row))
                if keep and not rows:
                    continue  # nothing to add
                if not data_columns and not types:
                    data_columns = list(CONTRACT_COLUMNS.get(table, []))
                if not data_columns and not types:
                    raise ValueError(f"{table}: no rows and no column_types: cannot tell its columns")
                csv_text = rows_to_csv(data_columns, rows)
                self._load(schema, table, data_columns, types, csv_text=csv_text, append=keep)

    def table_exists(self, table: str, schema: str | None = None) -> bool:
        """Whether ``schema.table`` (target schema by default) exists, as a table or a view."""
        if self.target == "spark":
            assert self.spark is not None
            name = f"{quote_spark_ident(self.schema_name(schema or self.schema))}.{quote_spark_ident(table)}"
            return bool(self.spark.session.catalog.tableExists(name))
        rows = self.query(
            "select count(*) from information_schema.tables "
            f"where table_schema = {_quote_literal(schema or self.schema)} and table_name = {_quote_literal(table)}"
        )
        return rows[0][0] > 0

    def _load(
        self,
        schema: str,
        table: str,
        data_columns: list[str],
        types: dict[str, str],
        csv_path: Path | None = None,
        csv_text: str | None = None,
        append: bool = False,
    ) -> None:
        columns = data_columns + [c for c in types if c not in data_columns]
        col_types = {c: types.get(c) or default_column_type(c) for c in columns}
        rel = self.relation(table, schema)
        if self.target == "spark":
            self._spark_load(rel, data_columns, col_types, csv_path, csv_text, append)
            return
        ddl = ", ".join(f"{quote_ident(c)} {t}" for c, t in col_types.items())
        data_cols_sql = ", ".join(quote_ident(c) for c in data_columns)
        if not append:
            drop = f"drop table if exists {rel}" + (" cascade" if self.target == "postgres" else "")
            self.execute(drop)
            self.execute(f"create table {rel} ({ddl})")
        if not data_columns:
            return
        if self.target == "postgres":
            with self._cursor() as cur:
                copy = f"copy {rel} ({data_cols_sql}) from stdin with (format csv, header true)"
                if csv_path is not None:
                    with csv_path.open(encoding="utf-8-sig", newline="") as fh:
                        cur.copy_expert(copy, fh)
                else:
                    cur.copy_expert(copy, io.StringIO(csv_text))
            return
        struct = ", ".join(f"{_quote_literal(c)}: {_quote_literal(col_types[c])}" for c in data_columns)
        with self._csv_file(csv_path, csv_text) as csv_path:
            self.execute(
                f"insert into {rel} ({data_cols_sql}) select * from read_csv("
                f"{_quote_literal(str(csv_path))}, header = true, delim = ',', quote = '\"', escape = '\"', "
                f"auto_detect = false, allow_quoted_nulls = false, columns = {{{struct}}})"
            )

    @contextlib.contextmanager
    def _csv_file(self, csv_path: Path | None, csv_text: str | None) -> Iterator[Path]:
        """The CSV to load: ``csv_path`` as it is, or ``csv_text`` in a temporary file removed afterwards."""
        if csv_path is not None:
            yield csv_path
            return
        tmp = self.base_dir / f"load-{uuid.uuid4().hex}.csv"
        tmp.write_text(csv_text or "", encoding="utf-8")
        try:
            yield tmp
        finally:
            tmp.unlink(missing_ok=True)

    def _spark_load(
        self,
        rel: str,
        data_columns: list[str],
        col_types: dict[str, str],
        csv_path: Path | None,
        csv_text: str | None,
        append: bool,
    ) -> None:
        """Spark: a parquet table with the same types and NULL / '' semantics as the other engines. The CSV
        is parsed by DuckDB exactly as the DuckDB warehouse parses it (every field text), and Spark casts.
        Timestamps go through ``timestamp_ntz``, so an offset in the text is ignored as Postgres does."""
        assert self.spark is not None
        import duckdb
        from pyspark.sql.types import StringType, StructField, StructType

        session = self.spark.session
        if not append:
            session.sql(f"drop table if exists {rel}")
            ddl = ", ".join(f"{quote_spark_ident(c)} {spark_type(t)}" for c, t in col_types.items())
            session.sql(f"create table {rel} ({ddl}) using parquet")
        if not data_columns:
            return
        struct = ", ".join(f"{_quote_literal(c)}: 'varchar'" for c in data_columns)
        with self._csv_file(csv_path, csv_text) as csv_path:
            con = duckdb.connect()
            try:
                rows = con.execute(
                    f"select * from read_csv({_quote_literal(str(csv_path))}, header = true, delim = ',', "
                    f"quote = '\"', escape = '\"', auto_detect = false, allow_quoted_nulls = false, "
                    f"columns = {{{struct}}})"
                ).fetchall()
            finally:
                con.close()
        view = f"idstitch_load_{uuid.uuid4().hex}"
        schema = StructType([StructField(f"c{i}", StringType()) for i in range(len(data_columns))])
        session.createDataFrame(rows, schema).createOrReplaceTempView(view)
        casts = []
        for i, column in enumerate(data_columns):
            target_type = spark_type(col_types[column])
            if target_type == "timestamp":
                casts.append(f"cast(cast(c{i} as timestamp_ntz) as timestamp)")
            else:
                casts.append(f"cast(c{i} as {target_type})")
        try:
            session.sql(
                f"insert into {rel} ({', '.join(quote_spark_ident(c) for c in data_columns)}) "
                f"select {', '.join(casts)} from {view}"
            )
        finally:
            session.catalog.dropTempView(view)

    # ------------------------------------------------------------------ dbt

    def use_project_copy(self) -> Path:
        """Copy the dbt project into ``<base_dir>/project`` and run dbt against that copy from now on.

        The copy (see :func:`copy_dbt_project`) is the warehouse's own: a test may change it between runs
        (a seed row, a model) without touching the repository. Returns the copy's directory.
        """
        if self.project_dir == REPO_ROOT:
            self.project_dir = copy_dbt_project(self.base_dir / "project")
        return self.project_dir

    def dbt_env(self) -> dict[str, str]:
        """Environment for a dbt subprocess against this warehouse (also handy for debugging by hand)."""
        return {
            **os.environ,
            "DBT_PROJECT_DIR": str(self.project_dir),
            "DBT_PROFILES_DIR": str(self.profiles_dir),
            "DBT_TARGET": self.target,
            "DBT_TARGET_PATH": str(self.target_path),
            "DBT_LOG_PATH": str(self.log_path),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
            "DBT_USE_COLORS": "false",
            "DBT_PRINTER_WIDTH": "120",
            **self.extra_env,
        }

    def run_dbt(
        self,
        *args: str,
        vars: Mapping[str, Any] | None = None,
        expect_ok: bool = True,
        timeout: float | None = 1800,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``dbt <args>`` against this warehouse in a subprocess (Spark: in this process, see the module
        docstring; ``timeout`` does not apply there).

        Project dir (the repository, or the copy made by :meth:`use_project_copy`), profiles dir, target,
        target path and log path are set for every subcommand through dbt's environment variables
        (``DBT_PROJECT_DIR`` ...), so ``deps``/``clean`` work as well as ``build``. With ``expect_ok`` a
        non-zero exit raises AssertionError with the output's tail.
        The output is kept in ``last_stdout`` / ``last_result``.
        """
        if self.target == "spark":
            return self._run_dbt_in_process(args, vars, expect_ok)
        cmd = [dbt_executable(), *args]
        if vars is not None:
            cmd += ["--vars", json.dumps(vars)]
        proc = subprocess.run(
            cmd,
            cwd=self.project_dir,
            env=self.dbt_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return self._finish(cmd, proc, expect_ok)

    def _run_dbt_in_process(
        self, args: Sequence[str], vars: Mapping[str, Any] | None, expect_ok: bool
    ) -> subprocess.CompletedProcess[str]:
        """Spark: dbt in this process (helpers.spark.invoke_dbt), with the locations ``dbt_env`` gives a
        subprocess passed as flags, and the source schema var renamed as this warehouse names schemas."""
        assert self.spark is not None
        dbt_vars = dict(vars or {})
        dbt_vars["idstitch__source_schema"] = self.schema_name(str(dbt_vars.get("idstitch__source_schema", "segment")))
        argv = [
            *args,
            "--project-dir", str(self.project_dir),
            "--profiles-dir", str(self.profiles_dir),
            "--target", self.target,
            "--vars", json.dumps(dbt_vars),
            "--no-send-anonymous-usage-stats",
            "--no-use-colors",
        ]
        if not args or args[0] != "debug":  # debug takes no target or log path
            argv += ["--target-path", str(self.target_path), "--log-path", str(self.log_path)]
        with temporary_environment(self.extra_env):
            returncode, stdout, stderr = invoke_dbt(self.spark, argv)
        proc = subprocess.CompletedProcess(["dbt", *argv], returncode, stdout, stderr)
        return self._finish(["dbt", *argv], proc, expect_ok)

    def _finish(
        self, cmd: Sequence[str], proc: subprocess.CompletedProcess[str], expect_ok: bool
    ) -> subprocess.CompletedProcess[str]:
        self.last_result = proc
        self.last_stdout = proc.stdout
        if expect_ok and proc.returncode != 0:
            raise AssertionError(
                f"dbt failed (exit {proc.returncode}) on {self.target}: {' '.join(cmd)}\n"
                f"--- stdout (tail) ---\n{_tail(proc.stdout)}\n--- stderr (tail) ---\n{_tail(proc.stderr)}\n"
                f"(profiles: {self.profiles_dir}, logs: {self.log_path})"
            )
        return proc


def _tail(text: str, lines: int = 80) -> str:
    return "\n".join(text.splitlines()[-lines:])


# What a dbt project reads besides dbt_project.yml: the path settings (dbt's defaults when unset) and files.
_PROJECT_PATH_SETTINGS = {
    "model-paths": ["models"],
    "macro-paths": ["macros"],
    "seed-paths": ["seeds"],
    "test-paths": ["tests"],
    "analysis-paths": ["analyses"],
    "snapshot-paths": ["snapshots"],
    "docs-paths": [],
    "asset-paths": [],
}
_PROJECT_FILES = ("dbt_project.yml", "packages.yml", "dependencies.yml", "package-lock.yml", "selectors.yml")


def copy_dbt_project(dest: Path, source: Path = REPO_ROOT) -> Path:
    """Copy the dbt project at ``source`` into ``dest`` (created; must not exist yet): dbt_project.yml, the
    package/selector files next to it, and every directory its ``*-paths`` settings name (dbt's defaults
    when a setting is absent; directories that do not exist are skipped). Returns ``dest``, resolved."""
    import yaml  # a dbt dependency

    source, dest = Path(source).resolve(), Path(dest).resolve()
    settings = yaml.safe_load((source / "dbt_project.yml").read_text(encoding="utf-8")) or {}
    dest.mkdir(parents=True, exist_ok=False)
    for name in _PROJECT_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".DS_Store")
    for key, default in _PROJECT_PATH_SETTINGS.items():
        value = settings.get(key, default)
        for rel in [value] if isinstance(value, str) else value or []:
            src = (source / rel).resolve()
            if not src.is_relative_to(source):
                raise ValueError(f"{key}: {rel!r} lies outside the project {source}: cannot copy it")
            if src.is_dir():
                shutil.copytree(src, dest / src.relative_to(source), ignore=ignore, dirs_exist_ok=True)
    return dest


def dbt_executable() -> str:
    """The ``dbt`` installed next to the running interpreter (so a venv's dbt wins over PATH)."""
    candidate = Path(sys.executable).parent / "dbt"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which("dbt")
    if found is None:
        raise FileNotFoundError(
            f"no dbt executable next to {sys.executable} or on PATH: pip install -e '.[dev]'"
        )
    return found


WarehouseFactory: TypeAlias = Callable[[Target], Warehouse]
"""What the ``warehouse_factory`` fixture yields: ``make("duckdb" | "postgres" | "spark") -> Warehouse``."""
