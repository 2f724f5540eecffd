"""Smoke tests of the test harness itself: load, read back and run dbt on both engines."""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path

import pytest

from helpers.pgserver import DEFAULT_SETTINGS, PgServer
from helpers.warehouse import Warehouse, WarehouseFactory

CSV = (
    "id,anonymous_id,user_id,event,timestamp,received_at,context_ip\n"
    "m1,a1,,Signed Up,2024-01-01 10:00:00,2024-01-01 10:00:02.5,10.0.0.1\n"
    'm2,a1,"",Song Played,2024-01-01T11:00:00Z,2024-01-01 11:00:01,\n'
    'm3,a2,"u""1",Song Played,2024-01-02 09:30:00,,"x, ""y"""\n'
)


def test_load_csv_and_read_back(warehouse: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "tracks.csv"
    path.write_text(CSV)
    warehouse.load_tables("segment", {"tracks": path})

    rows = warehouse.query_dicts(
        "select id, anonymous_id, user_id, event, timestamp, received_at, context_ip "
        "from segment.tracks order by id"
    )
    assert [r["id"] for r in rows] == ["m1", "m2", "m3"]
    m1, m2, m3 = rows
    assert m1["user_id"] is None  # unquoted empty field -> NULL
    assert m2["user_id"] == ""  # quoted empty field -> empty string
    assert m2["context_ip"] is None
    assert m3["user_id"] == 'u"1'
    assert m3["context_ip"] == 'x, "y"'
    assert m1["timestamp"] == dt.datetime(2024, 1, 1, 10, 0)
    assert m1["received_at"] == dt.datetime(2024, 1, 1, 10, 0, 2, 500000)
    assert m3["received_at"] is None
    assert m2["timestamp"] == dt.datetime(2024, 1, 1, 11, 0)  # offset ignored, as Postgres `timestamp` does
    assert warehouse.query(
        "select count(*) from segment.tracks where timestamp < timestamp '2024-01-02 00:00:00'"
    ) == [(2,)]


def test_load_rows_types_and_reload(warehouse: Warehouse) -> None:
    cet = dt.timezone(dt.timedelta(hours=1))
    rows = [
        {"id": "i1", "user_id": "u1", "email": None, "plan": "", "n": 3, "sent_at": "2024-05-01 12:00:00"},
        {
            "id": "i2",
            "user_id": None,
            "email": "A@x.io",
            "n": None,
            "sent_at": dt.datetime(2024, 5, 1, 13, tzinfo=cet),
        },
    ]
    warehouse.load_tables(
        "segment",
        {"identifies": rows, "aliases": []},
        column_types={"identifies": {"n": "bigint", "traits_extra": "text"}},
    )
    got = warehouse.query(
        "select id, user_id, email, plan, n, sent_at, traits_extra from segment.identifies order by id"
    )
    assert got == [
        ("i1", "u1", None, "", 3, dt.datetime(2024, 5, 1, 12, 0), None),
        ("i2", None, "A@x.io", None, None, dt.datetime(2024, 5, 1, 12, 0), None),  # tz-aware -> UTC
    ]
    # an empty contract table still gets its contract columns
    assert (
        warehouse.query("select id, previous_id, user_id, timestamp, received_at from segment.aliases") == []
    )

    warehouse.load_tables("segment", {"identifies": [{"id": "only"}]})  # reload replaces the table
    assert warehouse.query("select * from segment.identifies") == [("only",)]


def test_run_dbt(warehouse: Warehouse) -> None:
    result = warehouse.run_dbt("debug")
    assert result.returncode == 0
    assert "All checks passed" in warehouse.last_stdout
    assert f"type: {warehouse.target}" in warehouse.last_stdout or warehouse.target in warehouse.last_stdout

    with pytest.raises(AssertionError, match="dbt failed"):
        warehouse.run_dbt("no-such-subcommand")
    failed = warehouse.run_dbt("no-such-subcommand", expect_ok=False)
    assert failed.returncode != 0


def test_warehouses_are_isolated(warehouse_factory: WarehouseFactory) -> None:
    first, second = warehouse_factory("duckdb"), warehouse_factory("duckdb")
    assert first.profiles_dir != second.profiles_dir
    assert first.duckdb_path != second.duckdb_path
    first.load_tables("segment", {"t": [{"id": "x"}]})
    assert second.query("select count(*) from information_schema.tables where table_name = 't'") == [(0,)]


@pytest.mark.postgres
def test_postgres_server_is_our_own(pg_server: PgServer, postgres_warehouse: Warehouse) -> None:
    assert pg_server.host == "127.0.0.1"
    assert pg_server.port != 5432
    ((port, data_dir, fsync, collate),) = postgres_warehouse.query(
        "select inet_server_port(), current_setting('data_directory'), current_setting('fsync'), "
        "current_setting('lc_collate')"
    )
    assert port == pg_server.port
    assert Path(data_dir) == pg_server.data_dir
    assert fsync == DEFAULT_SETTINGS["fsync"] == "off"
    assert collate == "C"
    assert postgres_warehouse.query("select current_database()") == [(postgres_warehouse.database,)]
    with contextlib.closing(pg_server.connect()) as conn, conn.cursor() as cur:
        cur.execute(
            "select datname from pg_database where datname not in ('postgres', 'template0', 'template1')"
        )
        databases = {name for (name,) in cur.fetchall()}
    assert postgres_warehouse.database in databases
    assert all(name.startswith("idstitch_") for name in databases)


@pytest.mark.postgres
def test_postgres_warehouse_drops_its_database(pg_server: PgServer, tmp_path: Path) -> None:
    with Warehouse("postgres", tmp_path, pg=pg_server) as wh:
        name = wh.database
        wh.load_tables("segment", {"t": [{"id": "x"}]})
    with contextlib.closing(pg_server.connect()) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from pg_database where datname = %s", (name,))
        assert cur.fetchone() == (0,)
