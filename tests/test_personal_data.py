"""Personal data: traits kept only as keyed hashes, and identifiers kept out of logs and CLI output.

The scenario fixtures are the data. With ``idstitch__personal_columns: [email, name]`` and a key in the
environment (never in SQL), no raw e-mail or name may reach any table idstitch writes, the hash must be
the same on DuckDB and Postgres (checked against one computed here), and stitching must give the same
partition of messages into persons as without hashing.
"""

from __future__ import annotations

import csv
import hashlib
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from helpers.warehouse import SPARK_HASH_KEY_ENV, Warehouse
from test_scenarios import combined_csvs, is_junk

KEY = "test-key-0123456789abcdef"
PERSONAL = ["email", "name"]
BUILD_VARS = {"idstitch__max_links_per_identifier": 10}
HASHED_VARS = {**BUILD_VARS, "idstitch__personal_columns": PERSONAL}


def keyed_hash(value: str, key: str = KEY) -> str:
    inner = hashlib.sha256(f"{key}:{value}".encode()).hexdigest()
    return hashlib.sha256(f"{key}:{inner}".encode()).hexdigest()


def give_key(wh: Warehouse, key: str = KEY) -> None:
    """The key as a user hands it over to plain dbt: the DuckDB profile plugin reads IDSTITCH_HASH_KEY;
    libpq PGOPTIONS; the Spark profile's server_side_parameters read DBT_ENV_SECRET_IDSTITCH_HASH_KEY."""
    wh.extra_env["IDSTITCH_HASH_KEY"] = key
    if wh.target == "postgres":
        wh.extra_env["PGOPTIONS"] = f"-c idstitch.hash_key={key}"
    if wh.target == "spark":
        wh.extra_env[SPARK_HASH_KEY_ENV] = key


def raw_values(csvs: dict[str, Path], columns: list[str]) -> set[str]:
    """Every non-junk value of these identify columns, as written and as trimmed / lower-cased."""
    out: set[str] = set()
    with csvs["identifies"].open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            for column in columns:
                value = row.get(column)
                if value and not is_junk(value):
                    out |= {value, value.strip(), value.strip().lower()}
    return out


def text_cells(wh: Warehouse) -> set[str]:
    """Every text value of every table and view in the package's schemas."""
    schemas = [wh.schema, f"{wh.schema}_idstitch_internal"]
    rows = wh.query(
        "select c.table_schema, c.table_name, c.column_name from information_schema.columns as c "
        "join information_schema.tables as t on t.table_schema = c.table_schema and t.table_name = c.table_name "
        f"where c.table_schema in ({', '.join(repr(s) for s in schemas)}) and t.table_type = 'BASE TABLE' "
        "and lower(c.data_type) in ('text', 'varchar', 'character varying')"
    )
    cells: set[str] = set()
    for schema, table, column in rows:
        rel = wh.relation(table, schema)
        col = '"' + column + '"'
        cells |= {r[0] for r in wh.query(f"select distinct {col} from {rel} where {col} is not null")}
    return cells


def partition(wh: Warehouse) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = defaultdict(set)
    for table in ("fct_tracks", "fct_pages", "fct_identifies"):
        for message_id, person_id in wh.query(f"select message_id, person_id from {wh.relation(table)}"):
            groups[person_id].add(f"{table}:{message_id}")
    return {frozenset(g) for g in groups.values()}


@pytest.fixture
def csvs(tmp_path: Path) -> dict[str, Path]:
    return combined_csvs(tmp_path)


def test_personal_traits_are_stored_only_as_keyed_hashes(warehouse: Warehouse, csvs: dict[str, Path]) -> None:
    warehouse.load_tables("segment", csvs)
    warehouse.run_dbt("build", vars=BUILD_VARS)
    plain = partition(warehouse)
    emails = raw_values(csvs, ["email"])
    assert emails & text_cells(warehouse), "the check must see e-mails in the tables of a build without hashing"

    give_key(warehouse)
    warehouse.run_dbt("build", "--full-refresh", vars=HASHED_VARS)
    cells = text_cells(warehouse)
    leaked = raw_values(csvs, PERSONAL) & cells
    assert not leaked, f"raw personal values in idstitch's tables: {sorted(leaked)[:5]}"
    # the hash, computed here from the cleaned value: equal on every engine
    stored = {r[0] for r in warehouse.query(
        f"select identifier from {warehouse.relation('person_identifiers')} where identifier_type = 'email'")}
    expected = {keyed_hash(e.strip().lower()) for e in emails}
    assert stored and stored <= expected
    assert {keyed_hash(n.strip()) for n in raw_values(csvs, ["name"])} & cells  # names hashed, not dropped
    # hashing changes what is stored, never who is who
    assert partition(warehouse) == plain


def test_changing_the_key_asks_for_a_full_refresh(duckdb_warehouse: Warehouse, csvs: dict[str, Path]) -> None:
    wh = duckdb_warehouse
    wh.load_tables("segment", csvs)
    give_key(wh)
    wh.run_dbt("build", vars=HASHED_VARS)
    give_key(wh, KEY[::-1])
    proc = wh.run_dbt("build", vars=HASHED_VARS, expect_ok=False)
    assert proc.returncode != 0 and "idstitch__hash_key" in proc.stdout and "--full-refresh" in proc.stdout
    assert KEY not in proc.stdout and KEY[::-1] not in proc.stdout  # a fingerprint, never the key


@pytest.mark.parametrize("key", [None, "short"])
def test_without_a_usable_key_nothing_is_built(duckdb_warehouse: Warehouse, csvs: dict[str, Path],
                                              key: str | None) -> None:
    wh = duckdb_warehouse
    wh.load_tables("segment", csvs)
    if key is not None:
        give_key(wh, key)
    before = wh.query("select table_schema, table_name from information_schema.tables order by 1, 2")
    proc = wh.run_dbt("build", vars=HASHED_VARS, expect_ok=False)
    assert proc.returncode != 0
    assert "needs a hash key of at least 16 characters" in proc.stdout
    assert wh.query("select table_schema, table_name from information_schema.tables order by 1, 2") == before


def test_personal_columns_must_be_traits(duckdb_warehouse: Warehouse, csvs: dict[str, Path]) -> None:
    duckdb_warehouse.load_tables("segment", csvs)
    proc = duckdb_warehouse.run_dbt("build", vars={"idstitch__personal_columns": ["phone"]}, expect_ok=False)
    assert proc.returncode != 0 and "idstitch__personal_columns: phone is not one of idstitch__traits" in proc.stdout


def test_identifiers_stay_out_of_debug_logs_and_cli_output(postgres_warehouse: Warehouse,
                                                          csvs: dict[str, Path]) -> None:
    """A debug-level dbt run logs SQL, not data; the CLI's run and validate print counts, not ids."""
    wh = postgres_warehouse
    wh.load_tables("segment", csvs)
    give_key(wh)
    secrets = {v for v in raw_values(csvs, ["email", "user_id"]) if len(v) >= 5} | {KEY}
    assert secrets - {KEY}
    proc = wh.run_dbt("--debug", "build", vars=BUILD_VARS)
    cli = [sys.executable, "-m", "idstitch.cli"]
    common = ["--project-dir", str(wh.project_dir), "--profiles-dir", str(wh.profiles_dir)]
    outputs = [proc.stdout, proc.stderr, *(p.read_text(errors="replace") for p in wh.log_path.glob("*.log"))]
    for command in (["run", "--vars", '{"idstitch__max_links_per_identifier": 10}'], ["validate"]):
        done = subprocess.run([*cli, command[0], *common, *command[1:]], env=wh.dbt_env(),
                              capture_output=True, text=True, timeout=900, check=False)
        assert done.returncode in (0, 1), done.stderr[-2000:]
        outputs += [done.stdout, done.stderr]
    text = "\n".join(outputs)
    assert "select" in text.lower()  # the debug log is there and holds the SQL
    found = sorted(s for s in secrets if s in text)
    assert not found, f"identifiers or the key in logs / CLI output: {found[:5]}"
