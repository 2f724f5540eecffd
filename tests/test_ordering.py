"""First and latest by time: a link's first message, a person's newest trait, its customer id.

`first_by` / `last_by` order rows by an engine-specific fixed-width text form of the timestamp
(`sortable_timestamp`); this checks that form orders like the timestamps themselves on each engine —
across days, months, years, the 1970 epoch, microseconds, five-digit years, NULL and infinite times.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from helpers.warehouse import Warehouse

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
