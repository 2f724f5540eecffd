"""Reading (and, for validations, writing) the warehouse the dbt profile points at.

One small connection class over DuckDB (``duckdb``) and Postgres (``psycopg2``, opened with the same
arguments dbt-postgres uses), and the names of idstitch's published relations: taken from dbt's
``manifest.json`` when it describes this target (custom schemas, aliases and databases then just work),
else the profile's target schema and the default aliases.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from .errors import IdstitchError, one_line
from .runner import PACKAGE_NAME, Connection, DbtContext, read_manifest

# published name -> dbt model name (docs/CONTRACT.md, models/*/_*.yml)
PUBLISHED_MODELS = {
    "dim_person": "idstitch__dim_person",
    "person_identifiers": "idstitch__person_identifiers",
    "identity_links": "idstitch__identity_links",
    "identity_refusals": "idstitch__identity_refusals",
    "closure_runs": "idstitch__closure_runs",
    "person_changes": "idstitch__person_changes",
    "idstitch_violations": "idstitch__audit_violations",
    "fct_tracks": "idstitch__fct_tracks",
    "fct_pages": "idstitch__fct_pages",
    "fct_identifies": "idstitch__fct_identifies",
}
VALIDATIONS_TABLE = "idstitch_validations"  # written by `idstitch validate`, next to dim_person
RUN_LOG_TABLE = "idstitch_run_log"  # the run log, beside the working tables (macros/incremental/run_log.sql)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Relation:
    database: str
    schema: str
    name: str

    def __str__(self) -> str:
        parts = [p for p in (self.database, self.schema, self.name) if p]
        return ".".join(quote(p) for p in parts)

    @property
    def display(self) -> str:
        return f"{self.schema}.{self.name}"


class Relations:
    """Where each published table lives for this target."""

    def __init__(self, relations: Mapping[str, Relation], source: str) -> None:
        self._relations = dict(relations)
        self.source = source  # "manifest" or "profile"

    def __getitem__(self, name: str) -> Relation:
        return self._relations[name]

    def __contains__(self, name: object) -> bool:
        return name in self._relations

    def get(self, name: str) -> Relation | None:
        return self._relations.get(name)

    @property
    def validations(self) -> Relation:
        home = self._relations["dim_person"]
        return Relation(home.database, home.schema, VALIDATIONS_TABLE)

    @classmethod
    def resolve(cls, ctx: DbtContext, conn: Connection) -> Relations:
        defaults = {name: Relation(conn.database, conn.schema, name) for name in PUBLISHED_MODELS}
        manifest = read_manifest(ctx.target_path)
        if not manifest or manifest.get("metadata", {}).get("adapter_type") != conn.type:
            return cls(defaults, "profile")
        nodes = manifest.get("nodes", {})
        found: dict[str, Relation] = {}
        for name, model in PUBLISHED_MODELS.items():
            node = nodes.get(f"model.{PACKAGE_NAME}.{model}")
            if node is None or node.get("config", {}).get("enabled") is False:
                continue
            found[name] = Relation(
                str(node.get("database") or ""), str(node.get("schema") or ""), str(node.get("alias") or name)
            )
        home = found.get("dim_person")
        # A manifest compiled for another target of the same engine (another database) does not apply here.
        if home is None or (conn.database and home.database.lower() != conn.database.lower()):
            return cls(defaults, "profile")
        return cls(found, "manifest")


class Database:
    """A connection to the target's warehouse. Rows come back as dicts with plain Python values;
    SQL uses ``?`` placeholders on both engines."""

    def __init__(self, conn: Connection, read_only: bool = True) -> None:
        self.conn = conn
        self.type = conn.type
        self.read_only = read_only
        self._handle: Any = None
        if conn.type == "duckdb":
            self._handle = _open_duckdb(conn, read_only)
        elif conn.type == "postgres":
            self._handle = _open_postgres(conn)
        else:
            raise IdstitchError(
                f"target {conn.target_name!r} is a {conn.type} target: idstitch reads duckdb and postgres"
            )

    def close(self) -> None:
        if self._handle is not None:
            try:
                self._handle.close()
            finally:
                self._handle = None

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        if self.type == "duckdb":
            yield self._handle
        else:
            with self._handle.cursor() as cur:
                yield cur

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        if self.type == "postgres":
            sql = sql.replace("?", "%s")
        try:
            with self._cursor() as cur:
                cur.execute(sql, list(params) if params else None)
                if cur.description is None:
                    return []
                names = [d[0] for d in cur.description]
                return [{n: _plain(v) for n, v in zip(names, row, strict=True)} for row in cur.fetchall()]
        except Exception as exc:
            if _is_database_error(exc):
                raise IdstitchError(f"query failed on {self.conn.describe()}: {one_line(exc)}") from None
            raise

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.query(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        if self.type == "postgres":
            sql = sql.replace("?", "%s")
        try:
            with self._cursor() as cur:
                cur.executemany(sql, [list(r) for r in rows])
        except Exception as exc:
            if _is_database_error(exc):
                raise IdstitchError(f"write failed on {self.conn.describe()}: {one_line(exc)}") from None
            raise

    def existing(self, relations: Iterable[Relation]) -> set[Relation]:
        """Those of ``relations`` that exist (as a table or a view)."""
        wanted = list(relations)
        schemas = sorted({r.schema for r in wanted})
        if not schemas:
            return set()
        marks = ", ".join("?" for _ in schemas)
        rows = self.query(
            "select table_catalog, table_schema, table_name from information_schema.tables "
            f"where table_schema in ({marks})",
            schemas,
        )
        present = {(str(r["table_catalog"]).lower(), r["table_schema"], r["table_name"]) for r in rows}
        present_any_catalog = {(s, t) for _, s, t in present}
        return {
            r for r in wanted
            if (r.database.lower(), r.schema, r.name) in present
            or (not r.database and (r.schema, r.name) in present_any_catalog)
        }

    def require(self, relations: Relations, names: Iterable[str]) -> None:
        """Fail with one line naming the missing tables (no build yet, another schema ...)."""
        wanted = [relations[n] for n in names if n in relations]
        missing_models = [n for n in names if n not in relations]
        present = self.existing(wanted)
        missing = [r.display for r in wanted if r not in present] + missing_models
        if missing:
            raise IdstitchError(
                f"{', '.join(missing)} not found in {self.conn.describe()}: run `idstitch run` "
                f"(dbt build) for target {self.conn.target_name!r} first"
            )


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _is_database_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in {"duckdb", "_duckdb", "psycopg2"}


def _open_duckdb(conn: Connection, read_only: bool) -> Any:
    import duckdb

    path = str(getattr(conn.credentials, "path", "") or "")
    if not path or path == ":memory:" or path.startswith("md:"):
        raise IdstitchError(
            f"target {conn.target_name!r}: duckdb path {path!r} is not a database file idstitch can open"
        )
    if not Path(path).is_file():
        raise IdstitchError(f"no DuckDB database at {path} (target {conn.target_name!r}): run `idstitch run` first")
    try:
        return duckdb.connect(path, read_only=read_only)
    except duckdb.Error as exc:
        raise IdstitchError(f"cannot open {path}: {one_line(exc)}") from None


def _open_postgres(conn: Connection) -> Any:
    import psycopg2

    c = conn.credentials
    kwargs: dict[str, Any] = {}
    if getattr(c, "keepalives_idle", None):
        kwargs["keepalives_idle"] = c.keepalives_idle
    if getattr(c, "search_path", None):
        kwargs["options"] = "-c search_path={}".format(c.search_path.replace(" ", "\\ "))
    for option in ("sslmode", "sslcert", "sslkey", "sslrootcert"):
        if getattr(c, option, None):
            kwargs[option] = getattr(c, option)
    kwargs["application_name"] = "idstitch"
    try:
        handle = psycopg2.connect(
            dbname=c.database, user=c.user, host=c.host, password=c.password, port=c.port,
            connect_timeout=c.connect_timeout, **kwargs,
        )
        handle.autocommit = True
        if getattr(c, "role", None):
            with handle.cursor() as cur:
                cur.execute(f"set role {c.role}")
    except psycopg2.Error as exc:
        raise IdstitchError(
            f"cannot connect to {conn.describe()} (target {conn.target_name!r}): {one_line(exc)}"
        ) from None
    return handle


def utc_now() -> dt.datetime:
    """Now, UTC, without tzinfo (both engines store ``timestamp``; microseconds order validations)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
