"""First and latest by time: a link's first message, a person's newest trait, its customer id.

`first_by` / `last_by` order rows by an engine-specific fixed-width text form of the timestamp
(`sortable_timestamp`); this checks that form orders like the timestamps themselves on each engine —
across days, months, years, the 1970 epoch, microseconds, five-digit years, NULL and infinite times.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

import pytest

from helpers.warehouse import Warehouse, WarehouseFactory

SOURCE_SCHEMA = "segment"
RECEIVED = dt.datetime(2026, 3, 1)

# one device, one user id; each message carries both, so the one link between them has them all
LINK_MESSAGES = [
    ("o_m_2026b", "2026-01-05 00:00:00"),
    ("o_m_2026a", "2026-01-04 23:59:59.999999"),
    ("o_m_2025", "2025-12-31 23:59:59.999999"),
    ("o_m_1969", "1969-12-31 23:59:59.999999"),   # the first: before the epoch
    ("o_m_1970", "1970-01-01 00:00:00.000001"),
    ("o_m_2999", "2999-12-31 00:00:00"),
    ("o_m_12000", "12000-01-01 00:00:00"),         # a five-digit year keeps the prefix's width
    ("o_m_inf", "infinity"),                       # no position (like NULL): never first
    ("o_m_null", None),                            # no time: comes last, never first
]

# plan trait over time: the newest non-null value wins, whatever the ids sort like
TRAITS = [
    ("o_i_1", "2026-02-01 10:00:00.000001", "a_newest"),
    ("o_i_2", "2026-02-01 10:00:00", "z_older_by_a_microsecond"),
    ("o_i_3", "2026-01-31 23:00:00", "m_older"),
    ("o_i_4", "1969-06-01 00:00:00", "y_before_epoch"),
    ("o_i_6", "0001-01-01 00:00:00", "w_year_one"),
    ("o_i_5", None, "x_no_time"),                  # a NULL time counts as oldest
]


def _row(message_id: str, at: str | None, **columns: Any) -> dict[str, Any]:
    return {"id": message_id, "timestamp": at, "received_at": RECEIVED, **columns}


def _load(wh: Warehouse) -> None:
    tracks = [_row(m, at, anonymous_id="o_device", user_id="o_user", event="x") for m, at in LINK_MESSAGES]
    identifies = [_row(m, at, anonymous_id=None, user_id="o_user", email=None, name=None, plan=plan)
                  for m, at, plan in TRAITS]
    # a second person whose only e-mail changes: customer_id falls back to the latest e-mail
    identifies += [
        _row("o_e_1", "2026-02-02 00:00:00", anonymous_id="o_dev2", user_id=None, email="new@o.example",
             name=None, plan=None),
        _row("o_e_2", "2026-02-01 23:59:59.999999", anonymous_id="o_dev2", user_id=None, email="old@o.example",
             name=None, plan=None),
    ]
    wh.load_tables(SOURCE_SCHEMA, {"tracks": tracks, "pages": [], "identifies": identifies, "aliases": []})


def test_first_and_latest_follow_time_on_every_engine(warehouse: Warehouse) -> None:
    wh = warehouse
    _load(wh)
    wh.run_dbt("build")

    first = wh.query(
        f"select first_message_id, message_count from {wh.relation('identity_links')} "
        "where identifier_a in ('o_device', 'o_user') and identifier_b in ('o_device', 'o_user') "
        "and source_table = 'tracks'"
    )
    assert first == [("o_m_1969", len(LINK_MESSAGES))]

    persons = wh.query_dicts(
        f"select customer_id, plan, n_emails from {wh.relation('dim_person')} "
        "where customer_id in ('o_user', 'new@o.example', 'old@o.example') order by customer_id"
    )
    assert [(p["customer_id"], p["plan"], p["n_emails"]) for p in persons] == [
        ("new@o.example", None, 2),
        ("o_user", "a_newest", 0),
    ]


# Ties that only the identifiers' text can break, with ids whose order depends on the collation:
# bytewise 'Z…' < 'a…' and 'S…' < 's…', while a linguistic collation (ICU en-US, glibc en_US.UTF-8 —
# what many managed Postgres services create databases with) puts 'alpha' before 'Zeta' and 's-a'
# before 'S-B'.
TIE_RECEIVED = dt.datetime(2026, 4, 1)


def _tie_row(message_id: str, at: str, **columns: Any) -> dict[str, Any]:
    return {"id": message_id, "timestamp": at, "received_at": TIE_RECEIVED, "event": "x", **columns}


def _load_ties(wh: Warehouse) -> None:
    tracks = [
        # two devices of one user, first received in the same load: the anchor (and so person_id) is the
        # smaller identifier of the two
        _tie_row("t_Zeta", "2026-03-01 10:00:00", anonymous_id="Zeta-device", user_id="tie_user"),
        _tie_row("t_alpha", "2026-03-01 10:00:00", anonymous_id="alpha-device", user_id="tie_user"),
        # a shared device (two users), then a session nobody identified whose two events share a time:
        # its person is named after the session's first message
        _tie_row("k_u1", "2026-03-02 09:00:00", anonymous_id="kiosk", user_id="kiosk_user_1"),
        _tie_row("k_u2", "2026-03-02 12:00:00", anonymous_id="kiosk", user_id="kiosk_user_2"),
        _tie_row("S-B", "2026-03-03 08:00:00", anonymous_id="kiosk"),
        _tie_row("s-a", "2026-03-03 08:00:00", anonymous_id="kiosk"),
    ]
    wh.load_tables(SOURCE_SCHEMA, {"tracks": tracks, "pages": [], "identifies": [], "aliases": []})


def _attribution(wh: Warehouse) -> list[tuple[Any, ...]]:
    return sorted(wh.query(
        f"select message_id, person_id, attribution_method from {wh.relation('fct_tracks')}"))


@pytest.mark.postgres
def test_ties_break_bytewise_whatever_the_database_collation(warehouse_factory: WarehouseFactory) -> None:
    """Person ids are the same on a Postgres database whose default collation is linguistic (ICU en-US) as
    on DuckDB, which compares bytes: every tie between identifiers or message ids is broken bytewise."""
    duckdb_warehouse, pg = warehouse_factory("duckdb"), warehouse_factory("postgres")
    assert pg.pg is not None
    pg.pg.drop_database(pg.database)
    with contextlib.closing(pg.pg.connect()) as conn, conn.cursor() as cur:
        cur.execute(f'create database "{pg.database}" template template0 '
                    "locale_provider icu icu_locale 'en-US' locale 'C.UTF-8'")
    for wh in (duckdb_warehouse, pg):
        _load_ties(wh)
        wh.run_dbt("build")

    assert pg.query("select 'alpha' < 'Zeta'") == [(True,)]  # the database does sort linguistically
    assert _attribution(pg) == _attribution(duckdb_warehouse)
    persons = "select person_id, customer_id, n_events from {} order by person_id"
    assert pg.query(persons.format(pg.relation("dim_person"))) == duckdb_warehouse.query(
        persons.format(duckdb_warehouse.relation("dim_person")))
