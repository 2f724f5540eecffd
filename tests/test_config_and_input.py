"""Settings and bad input: refused with a message naming the problem, and nothing half-built.

Runs on DuckDB (the checks are engine-independent macros); the scenario fixtures are the data. The two
input shapes that reach the SQL itself (empty tables, an integer user id column) run on both engines.
More hostile input: tests/test_hostile_input.py and scenarios 13-17.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.warehouse import Warehouse
from test_scenarios import combined_csvs

KIOSK = "s09_anon_kiosk"


@pytest.fixture
def loaded(duckdb_warehouse: Warehouse, tmp_path: Path) -> Warehouse:
    duckdb_warehouse.load_tables("segment", combined_csvs(tmp_path))
    return duckdb_warehouse


def _tables(wh: Warehouse) -> set[str]:
    return {r[0] for r in wh.query("select table_name from information_schema.tables")}


def test_unidentified_shared_sessions_can_stay_with_the_device(loaded: Warehouse) -> None:
    loaded.run_dbt("build", vars={"idstitch__max_links_per_identifier": 10,
                                  "idstitch__shared_device_unidentified": "device"})
    rows = loaded.query(
        f"select person_id from {loaded.relation('fct_pages')} "
        f"where anonymous_id = '{KIOSK}' and attribution_method = 'shared_device'"
    )
    assert len(rows) == 2 and len(set(rows)) == 1  # both anonymous kiosk sessions: one device person


@pytest.mark.parametrize(
    ("bad_vars", "message"),
    [
        ({"idstitch__max_links_per_identifier": 0}, "idstitch__max_links_per_identifier must be a whole number"),
        ({"idstitch__session_gap_minutes": "30"}, "idstitch__session_gap_minutes must be a whole number"),
        ({"idstitch__shared_device_unidentified": "person"}, "must be session or device"),
        ({"idstitch__traits": "email"}, "idstitch__traits must be a list"),
        ({"idstitch__identifier_traits": ["e-mail; drop table x"]}, "is not a plain lower-case column name"),
        ({"idstitch__source_schema": "segment; drop schema main"}, "idstitch__source_schema must be a plain"),
        ({"idstitch__pages_enabled": "no"}, "idstitch__pages_enabled must be true or false"),
        ({"idstitch__source_database": 'main"; drop schema segment cascade; --'},
         "idstitch__source_database must be null or a plain identifier"),
        ({"idstitch__tracks_table": "tracks where 1=0 --"}, "idstitch__tracks_table must be a plain"),
        ({"idstitch__traits": ["name", "1; delete from segment.tracks"]}, "is not a plain lower-case column name"),
        ({"idstitch__lowercase_identifier_types": ["email' or '1'='1"]}, "is not an identifier type"),
        ({"idstitch__extra_junk_identifiers": [{"sql": "drop table x"}]}, "is not a string or number"),
        ({"idstitch__closure_max_rounds": "64; drop table x"}, "idstitch__closure_max_rounds must be a whole number"),
        ({"idstitch__reader_roles": ["bi; drop table segment.tracks"]}, "is not a plain role name"),
    ],
)
def test_impossible_settings_are_refused_before_anything_is_built(
    loaded: Warehouse, bad_vars: dict, message: str
) -> None:
    before = _tables(loaded)
    proc = loaded.run_dbt("build", vars=bad_vars, expect_ok=False)
    assert proc.returncode != 0
    assert message in proc.stdout
    assert _tables(loaded) == before  # not even the seed was loaded


def test_missing_source_table_is_named(loaded: Warehouse) -> None:
    loaded.execute("drop table segment.identifies")
    proc = loaded.run_dbt("build", expect_ok=False)
    assert proc.returncode != 0
    assert "identifies" in proc.stdout and "does not exist" in proc.stdout
    assert "fct_tracks" not in _tables(loaded)


def test_missing_column_is_named(loaded: Warehouse) -> None:
    loaded.execute("alter table segment.tracks drop column user_id")
    proc = loaded.run_dbt("build", expect_ok=False)
    assert proc.returncode != 0
    assert "missing required column(s): user_id" in proc.stdout


def test_optional_tables_can_be_switched_off(loaded: Warehouse) -> None:
    loaded.execute("drop table segment.pages")
    loaded.execute("drop table segment.aliases")
    loaded.run_dbt("build", vars={"idstitch__pages_enabled": False, "idstitch__aliases_enabled": False,
                                  "idstitch__max_links_per_identifier": 10})
    tables = _tables(loaded)
    assert "fct_pages" not in tables
    assert {"fct_tracks", "fct_identifies", "dim_person"} <= tables


def test_empty_tables_give_an_empty_clean_result(warehouse: Warehouse) -> None:
    wh = warehouse
    wh.load_tables("segment", {"tracks": [], "pages": [], "identifies": [], "aliases": []})
    wh.run_dbt("build")
    for table in ("fct_tracks", "fct_pages", "fct_identifies", "dim_person", "person_identifiers",
                  "identity_links"):
        assert wh.query(f"select count(*) from {wh.relation(table)}") == [(0,)]
    assert wh.query(f"select count(*), min(rounds) from {wh.relation('closure_runs')}") == [(2, 0)]


def test_extra_source_columns_pass_through(loaded: Warehouse) -> None:
    loaded.run_dbt("build", vars={"idstitch__max_links_per_identifier": 10})
    cols = {r[0] for r in loaded.query(
        "select column_name from information_schema.columns where table_name = 'fct_tracks'")}
    assert {"context_user_agent", "event", "message_id", "person_id", "attribution_method"} <= cols


def test_extra_junk_values_from_a_var(loaded: Warehouse) -> None:
    """A value added to the junk list stops linking: Frank's user id can no longer anchor anything."""
    loaded.run_dbt("build", vars={"idstitch__max_links_per_identifier": 10,
                                  "idstitch__extra_junk_identifiers": ["S08_U_FRANK"]})
    assert loaded.query(
        f"select count(*) from {loaded.relation('person_identifiers')} where identifier = 's08_u_frank'"
    ) == [(0,)]
    assert loaded.query(
        f"select count(*) from {loaded.relation('fct_tracks')} where user_id = 's08_u_frank'"
    ) == [(0,)]


def test_sql_in_a_junk_value_is_data(loaded: Warehouse) -> None:
    """Junk values are inlined as quoted literals: a value carrying SQL is compared, never run."""
    hostile = "x'); drop table segment.tracks; --"
    before = loaded.query("select count(*) from segment.tracks")
    loaded.run_dbt("build", vars={"idstitch__max_links_per_identifier": 10,
                                  "idstitch__extra_junk_identifiers": [hostile, "S08_U_FRANK"]})
    assert loaded.query("select count(*) from segment.tracks") == before
    # the list still works: the other value in it is junk now
    assert loaded.query(
        f"select count(*) from {loaded.relation('person_identifiers')} where identifier = 's08_u_frank'"
    ) == [(0,)]


def test_violations_audit_catches_a_broken_output(loaded: Warehouse) -> None:
    """The invariants are checked against the published tables: tamper with them and the audit fails."""
    vars_ = {"idstitch__max_links_per_identifier": 10}
    loaded.run_dbt("build", vars=vars_)
    fct = loaded.relation("fct_tracks")
    links = loaded.relation("identity_links")
    # a message counted twice, a junk identifier slipped into the graph, an accepted link across persons
    loaded.execute(f"insert into {fct} select * from {fct} where message_id = 's01_tr_1'")
    loaded.execute(
        f"insert into {links} select identifier_type_a, 'undefined', identifier_type_b, identifier_b, "
        f"link_kind, source_table, first_message_id, first_seen_at, last_seen_at, message_count, "
        f"true, null, person_id_a, person_id_b from {links} where is_accepted limit 1"
    )
    loaded.execute(
        f"update {links} set is_accepted = true, refusal_reason = null "
        f"where refusal_reason = 'identifier_shared_by_user_ids'"
    )
    proc = loaded.run_dbt("test", "--select", "idstitch__audit_violations", vars=vars_, expect_ok=False)
    assert proc.returncode != 0
    violations = {r[0] for r in loaded.query(
        f"select distinct violation from {loaded.relation('idstitch_violations')}")}
    assert {"event_not_exactly_once", "junk_identifier", "link_across_persons"} <= violations


def test_wrong_column_type_is_named(loaded: Warehouse) -> None:
    loaded.execute("alter table segment.pages drop column received_at")
    loaded.execute("alter table segment.pages add column received_at integer")
    proc = loaded.run_dbt("build", expect_ok=False)
    assert proc.returncode != 0
    assert "pages.received_at has type" in proc.stdout and "expected a timestamp" in proc.stdout


def test_integer_user_ids_are_ids_like_any_other(warehouse: Warehouse) -> None:
    """A user_id column of integer type: cast to text, so 42 links like '42' would."""
    wh = warehouse
    wh.load_tables(
        "segment",
        {
            "tracks": [
                {"id": "t1", "anonymous_id": "a1", "user_id": 42, "event": "x",
                 "timestamp": "2026-01-01 10:00:00", "received_at": "2026-01-01 10:00:00"},
                {"id": "t2", "anonymous_id": "a1", "user_id": None, "event": "x",
                 "timestamp": "2026-01-01 09:00:00", "received_at": "2026-01-01 09:00:00"},
                {"id": "t3", "anonymous_id": "a2", "user_id": 0, "event": "x",
                 "timestamp": "2026-01-01 09:00:00", "received_at": "2026-01-01 09:00:00"},
            ],
            "pages": [], "identifies": [], "aliases": [],
        },
        column_types={"tracks": {"user_id": "integer"}},
    )
    wh.run_dbt("build")
    rows = dict(wh.query(f"select message_id, person_id from {wh.relation('fct_tracks')}"))
    assert rows["t1"] == rows["t2"]  # the device belongs to user 42
    assert rows["t3"] != rows["t1"]  # 0 is junk: a2 stays its own person
    assert wh.query(f"select user_id from {wh.relation('fct_tracks')} where message_id = 't3'") == [(None,)]


def test_a_setting_that_changes_stored_state_asks_for_a_full_refresh(loaded: Warehouse) -> None:
    """Changing which traits are identifiers would mix old and new columns in the stored tables: the next
    incremental run stops before touching anything, naming the setting; --full-refresh rebuilds."""
    build_vars = {"idstitch__max_links_per_identifier": 10}
    loaded.run_dbt("build", vars=build_vars)
    persons = loaded.query(f"select * from {loaded.relation('dim_person')} order by person_id")

    changed = {**build_vars, "idstitch__identifier_traits": []}
    proc = loaded.run_dbt("build", vars=changed, expect_ok=False)
    assert proc.returncode != 0
    assert 'idstitch__identifier_traits: ["email"] → []' in proc.stdout
    assert "--full-refresh" in proc.stdout
    assert loaded.query(f"select * from {loaded.relation('dim_person')} order by person_id") == persons

    loaded.run_dbt("build", "--full-refresh", vars=changed)
    loaded.run_dbt("build", vars=changed)  # the new settings are now the stored ones
    assert "email" not in {c.lower() for (c,) in loaded.query(
        "select column_name from information_schema.columns where table_name = 'int_idstitch__messages'")}


def test_tables_stored_by_an_older_layout_ask_for_a_full_refresh(loaded: Warehouse) -> None:
    """A store written before the package recorded its state format (format 1: an older release) is not
    merged into: the next incremental run stops naming the format; --full-refresh rebuilds."""
    build_vars = {"idstitch__max_links_per_identifier": 10}
    loaded.run_dbt("build", vars=build_vars)
    run_config = loaded.relation("int_idstitch__run_config", f"{loaded.schema}_idstitch_internal")
    loaded.execute(f"delete from {run_config} where setting = 'idstitch__state_format'")

    proc = loaded.run_dbt("build", vars=build_vars, expect_ok=False)
    assert proc.returncode != 0
    assert "idstitch__state_format: 1 → 2" in proc.stdout
    assert "--full-refresh" in proc.stdout

    loaded.run_dbt("build", "--full-refresh", vars=build_vars)
    loaded.run_dbt("build", vars=build_vars)
