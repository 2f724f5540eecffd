"""Acceptance test for incremental runs: after every batch, ``dbt build`` on the data so far must publish
exactly what ``dbt build --full-refresh`` publishes on the same data (docs/decisions/0006-incremental-runs.md).

The data is the demo generator's (``PERSONS`` persons, fixed seed), split by ``received_at`` into
``N_BATCHES`` batches, with these cases injected deterministically (``INJECT_SEED``; ``Plan`` records them):

* offline devices: the track/page rows of two mobile devices are held back and delivered weeks later
  (``timestamp`` unchanged, ``received_at`` in a later batch: far older than the look-back);
* late arrivals within the look-back: six rows received 1-3 h before the last row of batch k are loaded
  with batch k+1 (four times), and a new device's first page, loaded late, takes the anchor of a person whose
  user id arrived after it (the person id must move to the device, as a full refresh says);
* replays: the same id again in a later batch (same content: tracks, pages, identifies, an alias); a later
  copy with another event name and one with another user id (the first received wins: both are ignored);
  a copy with another event name loaded in the next batch but received an hour *before* the stored one
  (inside the look-back): it wins, as in a full refresh;
* an alias in the second-to-last batch joining two user ids whose messages all arrived in early batches;
* a junk value added between runs: ``JUNK_VALUE`` is the anonymous id of three different users (and of
  anonymous messages) in early batches; before the run of batch ``JUNK_BATCH`` it is appended to the junk
  seed of the warehouse's private copy of the dbt project (``Warehouse.use_project_copy``), never the repo.

Per engine (``postgres`` marker for the Postgres half) one module fixture does every build: the incremental
warehouse (batch 1, then each later batch appended, plain ``dbt build``), a full refresh on batches
1..``JUNK_BATCH`` (compared right after the run that picked up the junk-list change), a full refresh on
everything (compared after the last batch), and a final re-run without new data. The tests then assert on
the recorded results. Outputs are compared as multisets of rows over every column except
``BOOKKEEPING_COLUMNS`` (when a row was written, which legitimately differs).
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import hashlib
import random
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from helpers.warehouse import Warehouse, WarehouseFactory
from idstitch import demo

PERSONS = 200  # ≈ 9,000 messages: big enough for every behaviour of the generator, small enough to be fast
DATA_SEED = 7
INJECT_SEED = 20260401
N_BATCHES = 10
LOOKBACK_HOURS = 24
BUILD_VARS = {"idstitch__lookback_hours": LOOKBACK_HOURS}
SOURCE_SCHEMA = "segment"
RAW_TABLES = ("tracks", "pages", "identifies", "aliases")
MESSAGE_TABLES = ("tracks", "pages", "identifies")
FCT = {"tracks": "fct_tracks", "pages": "fct_pages", "identifies": "fct_identifies"}

PUBLISHED = (
    "dim_person",
    "fct_tracks",
    "fct_pages",
    "fct_identifies",
    "person_identifiers",
    "identity_links",
    "identity_refusals",
)
# Columns recording when a row was written: they legitimately differ between an incremental run and a full
# refresh (but not between two runs over the same data).
BOOKKEEPING_COLUMNS = ("changed_in_run_at", "run_started_at")

JUNK_VALUE = "ffffffff-ffff-ffff-ffff-ffffffffffff"  # a buggy SDK build's hard-coded anonymous id
JUNK_SEED = Path("seeds") / "idstitch_junk_identifiers.csv"  # inside the project copy
JUNK_BATCH = 7  # JUNK_VALUE joins the junk seed before this batch's run (after batch 6)
LATE_BATCHES = (2, 4, 6, 8)  # rows received near the end of batch k are loaded with batch k+1
LATE_ANCHOR_BATCH = 4
ALIAS_BATCH = N_BATCHES - 1
OFFLINE_MOVES = ((2, 8), (3, N_BATCHES))  # (batch the rows belonged to, batch they are delivered in)
DIFF_ROWS = 20  # differing rows shown per side

ENGINES = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]

HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)
SECOND = dt.timedelta(seconds=1)
MILLISECOND = dt.timedelta(milliseconds=1)


# ---------------------------------------------------------------------------------------------- the data


def parse_ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def format_ts(value: dt.datetime) -> str:
    """The generator's text layout, ``YYYY-MM-DD HH:MM:SS.mmm``."""
    return f"{value:%Y-%m-%d %H:%M:%S}.{value.microsecond // 1000:03d}"


@dataclass
class Msg:
    """One raw row, the batch it is loaded with, and the injected case it belongs to ('' = untouched)."""

    table: str
    row: dict[str, str | None]
    batch: int
    case: str = ""

    @property
    def received(self) -> dt.datetime:
        return parse_ts(str(self.row["received_at"]))

    @property
    def key(self) -> tuple[str, str]:
        return self.table, str(self.row["id"])


@dataclass
class Plan:
    """The batches and what was injected into them (for the tests that check the cases are exercised)."""

    messages: list[Msg]
    offline: list[tuple[str, str]] = field(default_factory=list)  # (table, id) delivered weeks late
    late: list[tuple[str, str]] = field(default_factory=list)  # (table, id) loaded one batch late
    replays_same: list[tuple[str, str]] = field(default_factory=list)  # (table, id) replayed unchanged
    # (table, id, kept event, ignored event): a later copy with another event name
    replay_later_event: tuple[str, str, str, str] = ("", "", "", "")
    # (table, id, user id only the ignored later copy carries)
    replay_later_user: tuple[str, str, str] = ("", "", "")
    # (table, id, stored event, winning event): a copy received earlier, loaded one batch later
    replay_earlier_event: tuple[str, str, str, str] = ("", "", "", "")
    late_anchor: tuple[str, str] = ("", "")  # (anonymous id loaded late, user id received after it)
    alias: tuple[str, str] = ("", "")  # (previous_id, user_id) joined in ALIAS_BATCH
    junk_users: list[str] = field(default_factory=list)  # user ids seen with JUNK_VALUE before JUNK_BATCH
    junk_anonymous: list[tuple[str, str]] = field(default_factory=list)  # (table, id): JUNK_VALUE, no user

    def batch(self, k: int) -> list[Msg]:
        return [m for m in self.messages if m.batch == k]

    def tables(self, batches: range | list[int]) -> dict[str, list[dict[str, str | None]]]:
        """Rows per raw table (every table present, maybe empty) of the given batches, loading order."""
        wanted = set(batches)
        out: dict[str, list[dict[str, str | None]]] = {t: [] for t in RAW_TABLES}
        for m in self.messages:
            if m.batch in wanted:
                out[m.table].append(m.row)
        return out

    def max_received(self, through: int) -> dt.datetime:
        return max(m.received for m in self.messages if m.batch <= through)

    def late_identifiers(self, k: int) -> set[tuple[str, str]]:
        """Identifiers (as person_identifiers types them) on rows of batch k received no later than the
        newest row of batches 1..k-1: only such rows can move a first receipt, hence an anchor."""
        newest = self.max_received(k - 1)
        out: set[tuple[str, str]] = set()
        for m in self.batch(k):
            if m.received > newest:
                continue
            for column in ("anonymous_id", "user_id", "email", "previous_id"):
                value = m.row.get(column)
                if value is None or not value.strip():
                    continue
                value = value.strip()
                if column == "email":
                    out.add(("email", value.lower()))
                elif column == "previous_id":
                    out |= {("user_id", value), ("anonymous_id", value)}
                else:
                    out.add((column, value))
        return out


def _window(msgs: list[Msg], k: int) -> tuple[dt.datetime, dt.datetime]:
    times = [m.received for m in msgs if m.batch == k and not m.case]
    return min(times), max(times)


def _at(msgs: list[Msg], k: int, fraction: float) -> dt.datetime:
    """A time ``fraction`` of the way through batch k's receipt window, rounded to the millisecond."""
    lo, hi = _window(msgs, k)
    t = lo + (hi - lo) * fraction
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def _copy(m: Msg, batch: int, case: str, **changes: str | None) -> Msg:
    return Msg(m.table, {**m.row, **changes}, batch, case)


def _new(table: str, batch: int, case: str, **values: str | None) -> Msg:
    row: dict[str, str | None] = {c: None for c in demo.COLUMNS[table]}
    row.update(values)
    return Msg(table, row, batch, case)


def _users(m: Msg) -> list[str]:
    values = [m.row.get("user_id")] + ([m.row.get("previous_id")] if m.table == "aliases" else [])
    return [v for v in values if v is not None and v.startswith("usr_")]


def make_plan() -> Plan:
    """Generate the data, split it into batches by received_at and inject the cases (module docstring)."""
    rng = random.Random(INJECT_SEED)
    data = demo.generate(PERSONS, seed=DATA_SEED).tables()
    msgs = [
        Msg(t, dict(zip(demo.COLUMNS[t], row, strict=True)), 0) for t in RAW_TABLES for row in data[t]
    ]
    received = sorted(m.received for m in msgs)
    bounds = [received[i * len(received) // N_BATCHES] for i in range(1, N_BATCHES)]
    for m in msgs:
        m.batch = bisect.bisect_right(bounds, m.received) + 1
    plan = Plan(msgs)
    ua_desktop = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"

    # --- offline devices: a mobile device's tracks/pages of batch `src` are delivered in batch `dst`
    for n, (src, dst) in enumerate(OFFLINE_MOVES):
        per_device: dict[str, list[Msg]] = {}
        for m in msgs:
            ua = m.row.get("context_user_agent") or ""
            if m.batch == src and not m.case and m.table in ("tracks", "pages") and "Mobile" in ua:
                per_device.setdefault(str(m.row["anonymous_id"]), []).append(m)
        device = rng.choice(sorted(d for d, rows in per_device.items() if len(rows) >= 4))
        base = _at(msgs, dst, 0.3 + 0.4 * n)
        for i, m in enumerate(sorted(per_device[device], key=lambda m: str(m.row["timestamp"]))[:12]):
            m.row["received_at"] = format_ts(base + i * SECOND)
            m.batch, m.case = dst, "offline"
            plan.offline.append(m.key)

    # --- a junk value added between runs: JUNK_VALUE is used by three users and anonymously
    first_batch_of: dict[str, int] = {}
    for m in msgs:
        for user in _users(m):
            first_batch_of[user] = min(first_batch_of.get(user, N_BATCHES), m.batch)
    early_users = sorted(u for u, b in first_batch_of.items() if b == 1)
    plan.junk_users = rng.sample(early_users, 3)
    counter = iter(range(1000))

    def junk_track(batch: int, at: dt.datetime, user: str | None, event: str) -> Msg:
        m = _new(
            "tracks", batch, "junk", id=f"inc-junk-{next(counter):03d}", anonymous_id=JUNK_VALUE,
            user_id=user, event=event, timestamp=format_ts(at), received_at=format_ts(at + 300 * MILLISECOND),
            context_user_agent=ua_desktop,
        )
        if user is None:
            plan.junk_anonymous.append(m.key)
        return m

    for i, user in enumerate(plan.junk_users):
        t = _at(msgs, 2 + i, 0.5)
        msgs.append(junk_track(2 + i, t, user, "App Opened"))
        msgs.append(junk_track(2 + i, t + 2 * MINUTE, user, "Product Viewed"))
    first = _at(msgs, 2, 0.5)
    msgs.append(junk_track(2, first + 7 * MINUTE, None, "Product Viewed"))  # same session as a user
    msgs.append(junk_track(4, _at(msgs, 4, 0.15), None, "App Opened"))  # nobody logged in
    msgs.append(junk_track(5, _at(msgs, 5, 0.85), None, "App Opened"))
    msgs.append(junk_track(8, _at(msgs, 8, 0.6), None, "App Opened"))  # after the junk-list change
    msgs.append(junk_track(9, _at(msgs, 9, 0.2), plan.junk_users[1], "App Opened"))

    # --- replays with the same content, one to three batches later
    by_table = {t: [m for m in msgs if m.table == t and not m.case and m.batch <= 7] for t in RAW_TABLES}
    picks = rng.sample(by_table["tracks"], 3) + rng.sample(by_table["pages"], 2)
    picks += rng.sample(by_table["identifies"], 2) + rng.sample(by_table["aliases"], 1)
    for m in picks:
        later = min(N_BATCHES, m.batch + rng.randint(1, 3))
        t = _at(msgs, later, rng.random())
        m.case = "replayed"
        msgs.append(_copy(m, later, "replay-same", received_at=format_ts(t)))
        plan.replays_same.append(m.key)

    # --- a later copy with another event name, and one with another user id: the first receipt wins
    m = rng.choice([m for m in msgs if m.table == "tracks" and not m.case and m.batch == 3])
    other = "Coupon Applied" if m.row["event"] != "Coupon Applied" else "Video Played"
    m.case = "replayed"
    msgs.append(_copy(m, 6, "replay-later", event=other, received_at=format_ts(_at(msgs, 6, 0.4))))
    plan.replay_later_event = ("tracks", str(m.row["id"]), str(m.row["event"]), other)
    m = rng.choice([m for m in msgs if m.table == "pages" and not m.case and m.batch == 2])
    ghost = "usr_inc_replay_only"
    m.case = "replayed"
    msgs.append(_copy(m, 5, "replay-later", user_id=ghost, received_at=format_ts(_at(msgs, 5, 0.6))))
    plan.replay_later_user = ("pages", str(m.row["id"]), ghost)

    # --- a copy received an hour BEFORE the stored one, loaded with the next batch: it wins
    k = 5
    _, newest = _window(msgs, k)
    m = max(
        (m for m in msgs if m.table == "tracks" and not m.case and m.batch == k
         and newest - 6 * HOUR <= m.received <= newest - HOUR),
        key=lambda m: m.received,
    )
    winner = "Form Submitted" if m.row["event"] != "Form Submitted" else "Search Performed"
    earlier = m.received - HOUR
    m.case = "replayed"
    msgs.append(
        _copy(m, k + 1, "replay-earlier", event=winner, timestamp=format_ts(earlier - 200 * MILLISECOND),
              received_at=format_ts(earlier))
    )
    plan.replay_earlier_event = ("tracks", str(m.row["id"]), str(m.row["event"]), winner)

    # --- a late first page of a new device takes the anchor of a user received after it
    k = LATE_ANCHOR_BATCH
    _, newest = _window(msgs, k)
    device = f"{rng.getrandbits(128):032x}"
    device = f"{device[:8]}-{device[8:12]}-4{device[13:16]}-{device[16:20]}-{device[20:]}"
    user = "usr_inc_late_anchor"
    plan.late_anchor = (device, user)
    t_user, t_device, t_login = newest - 30 * MINUTE, newest - 2 * HOUR, _at(msgs, k + 1, 0.5)
    msgs.append(_new("tracks", k, "late-anchor", id="inc-anchor-001", user_id=user, event="Order Completed",
                     timestamp=format_ts(t_user), received_at=format_ts(t_user + 250 * MILLISECOND)))
    msgs.append(_new("pages", k + 1, "late-anchor", id="inc-anchor-002", anonymous_id=device, name="Home",
                     path="/", timestamp=format_ts(t_device), received_at=format_ts(t_device + SECOND),
                     context_user_agent=ua_desktop))
    msgs.append(_new("pages", k + 1, "late-anchor", id="inc-anchor-003", anonymous_id=device, user_id=user,
                     name="Pricing", path="/pricing", timestamp=format_ts(t_login),
                     received_at=format_ts(t_login + SECOND), context_user_agent=ua_desktop))

    # --- an alias in the second-to-last batch joins two user ids whose messages all arrived by batch 6
    last_batch_of: dict[str, int] = {}
    aliased: set[str] = set()
    for m in msgs:
        for user in _users(m):
            last_batch_of[user] = max(last_batch_of.get(user, 0), m.batch)
            if m.table == "aliases":
                aliased.add(user)
    candidates = sorted(
        u for u, b in last_batch_of.items() if b <= 6 and u not in aliased and u not in plan.junk_users
    )
    previous_id, user_id = rng.sample(candidates, 2)
    t = _at(msgs, ALIAS_BATCH, 0.5)
    msgs.append(_new("aliases", ALIAS_BATCH, "alias", id="inc-alias-001", previous_id=previous_id,
                     user_id=user_id, timestamp=format_ts(t), received_at=format_ts(t)))
    plan.alias = (previous_id, user_id)

    # --- late arrivals: rows received 1-3 h before the end of batch k are loaded with batch k+1
    # (the last six rows received at least an hour before the end; a row received earlier than 3 h before
    # the end is delayed into that window: received later, never before its timestamp)
    for k in LATE_BATCHES:
        newest = max(m.received for m in msgs if m.batch == k)
        moved = sorted(
            (m for m in msgs if m.batch == k and not m.case and m.received <= newest - HOUR),
            key=lambda m: m.received,
        )[-6:]
        for m in moved:
            if m.received < newest - 3 * HOUR:
                delay = dt.timedelta(seconds=rng.randrange(1, 2 * 3600))
                m.row["received_at"] = format_ts(newest - 3 * HOUR + delay)
            m.batch, m.case = k + 1, "late"
            plan.late.append(m.key)
    return plan


# ---------------------------------------------------------------------------------------------- snapshots


def _norm(value: Any) -> Any:
    """A comparable, engine-neutral form of one value (NULL stays None)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return str(int(value)) if value == value.to_integral_value() else str(value.normalize())
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="microseconds")
    return str(value)


@dataclass
class Table:
    columns: tuple[str, ...]  # compared columns, in the relation's order
    rows: Counter[tuple[Any, ...]]
    n_rows: int


Snapshot = dict[str, Table]


def snapshot(
    wh: Warehouse, exclude: tuple[str, ...] = BOOKKEEPING_COLUMNS, relations: Sequence[str] = PUBLISHED
) -> Snapshot:
    """Every published relation (or ``relations``) as a multiset of normalised rows over all columns but
    ``exclude``."""
    out: Snapshot = {}
    for name in relations:
        rows = wh.query_dicts(f"select * from {wh.relation(name)}")
        if rows:
            columns = tuple(c for c in rows[0] if c not in exclude)
        else:
            columns = tuple(c for c in wh.column_names(name) if c not in exclude)
        counted = Counter(tuple(_norm(r[c]) for c in columns) for r in rows)
        out[name] = Table(columns, counted, len(rows))
    return out


def table_diff(name: str, got: Table, want: Table, got_label: str, want_label: str) -> list[str]:
    """Readable differences between two snapshots of one relation ([] when equal as multisets)."""
    if set(got.columns) != set(want.columns):
        return [
            f"{name}: columns differ: only in {got_label}: {sorted(set(got.columns) - set(want.columns))}, "
            f"only in {want_label}: {sorted(set(want.columns) - set(got.columns))}"
        ]
    order = [got.columns.index(c) for c in want.columns]
    got_rows = Counter({tuple(r[i] for i in order): n for r, n in got.rows.items()})
    only_got, only_want = got_rows - want.rows, want.rows - got_rows
    if not only_got and not only_want and got.n_rows == want.n_rows:
        return []
    lines = [
        f"{name}: {got.n_rows} rows in {got_label}, {want.n_rows} in {want_label}; "
        f"{sum(only_got.values())} only in {got_label}, {sum(only_want.values())} only in {want_label}",
        f"  columns: {', '.join(want.columns)}",
    ]
    for label, rows in ((got_label, only_got), (want_label, only_want)):
        shown = sorted(rows.elements(), key=repr)
        for row in shown[:DIFF_ROWS]:
            lines.append(f"  only in {label}: {row}")
        if len(shown) > DIFF_ROWS:
            lines.append(f"  ... and {len(shown) - DIFF_ROWS} more only in {label}")
    return lines


def person_sets(wh: Warehouse) -> dict[str, frozenset[tuple[str, str]]]:
    """person_id -> its (identifier_type, identifier) set, from person_identifiers."""
    out: dict[str, set[tuple[str, str]]] = {}
    rows = wh.query(f"select person_id, identifier_type, identifier from {wh.relation('person_identifiers')}")
    for person_id, identifier_type, identifier in rows:
        out.setdefault(str(person_id), set()).add((str(identifier_type), str(identifier)))
    return {p: frozenset(s) for p, s in out.items()}


def add_junk_value(project_dir: Path, value: str) -> None:
    """Append ``value`` to the junk seed of a project copy (``value,note`` CSV, newline-terminated)."""
    path = project_dir / JUNK_SEED
    text = path.read_text(encoding="utf-8")
    with path.open("a", encoding="utf-8", newline="") as fh:
        if text and not text.endswith("\n"):
            fh.write("\n")
        csv.writer(fh, lineterminator="\n").writerow([value, "hard-coded anonymous id of a buggy SDK build"])


# ---------------------------------------------------------------------------------------------- the builds


@dataclass
class Runs:
    engine: str
    plan: Plan
    incremental: Warehouse | None = None
    reference: Warehouse | None = None  # full refresh on everything
    failure: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    persons: dict[int, dict[str, frozenset[tuple[str, str]]]] = field(default_factory=dict)  # after run k
    junk_links: dict[int, int] = field(default_factory=dict)  # identity_links rows with JUNK_VALUE, run k
    mid: dict[str, list[str]] | None = None  # relation -> diff, incremental vs full refresh after JUNK_BATCH
    final: dict[str, list[str]] | None = None  # the same after the last batch
    rerun: dict[str, list[str]] | None = None  # relation -> diff, before vs after a run without new data

    def require(self, what: str) -> None:
        if self.failure is not None:
            pytest.fail(f"[{self.engine}] cannot check {what}: a build failed:\n{self.failure}")


def _build(wh: Warehouse, runs: Runs, label: str, *args: str) -> bool:
    started = time.monotonic()
    proc = wh.run_dbt("build", *args, vars=BUILD_VARS, expect_ok=False)
    runs.seconds[label] = time.monotonic() - started
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-60:])
        runs.failure = f"{label}: dbt build {' '.join(args)} exited {proc.returncode} ({wh!r})\n{tail}"
        return False
    return True


def _full_refresh(factory: WarehouseFactory, runs: Runs, through: int, label: str) -> Warehouse | None:
    """A fresh warehouse (own project copy, junk seed as the incremental one has it by then) with batches
    1..through loaded at once, built with --full-refresh."""
    wh = factory(runs.engine)  # type: ignore[arg-type]
    project = wh.use_project_copy()
    if through >= JUNK_BATCH:
        add_junk_value(project, JUNK_VALUE)
    wh.load_tables(SOURCE_SCHEMA, runs.plan.tables(range(1, through + 1)))
    return wh if _build(wh, runs, label, "--full-refresh") else None


def _compare(inc: Snapshot, ref: Snapshot) -> dict[str, list[str]]:
    return {name: table_diff(name, inc[name], ref[name], "incremental", "full refresh") for name in PUBLISHED}


def run_all(engine: str, factory: WarehouseFactory, plan: Plan) -> Runs:
    runs = Runs(engine, plan)
    inc = runs.incremental = factory(engine)  # type: ignore[arg-type]
    inc.use_project_copy()
    for k in range(1, N_BATCHES + 1):
        if k == JUNK_BATCH:
            add_junk_value(inc.project_dir, JUNK_VALUE)
        inc.load_tables(SOURCE_SCHEMA, plan.tables([k]), append=k > 1)
        if not _build(inc, runs, f"incremental run {k}"):
            return runs
        runs.persons[k] = person_sets(inc)
        (runs.junk_links[k],) = inc.query(
            f"select count(*) from {inc.relation('identity_links')} "
            f"where identifier_a = '{JUNK_VALUE}' or identifier_b = '{JUNK_VALUE}'"
        )[0]
        if k == JUNK_BATCH:
            mid = _full_refresh(factory, runs, k, f"full refresh on batches 1-{k}")
            if mid is None:
                return runs
            runs.mid = _compare(snapshot(inc), snapshot(mid))
            mid.close()
    final_inc = snapshot(inc)
    ref = runs.reference = _full_refresh(factory, runs, N_BATCHES, "full refresh on all batches")
    if ref is None:
        return runs
    runs.final = _compare(final_inc, snapshot(ref))
    before = snapshot(inc, exclude=())
    if not _build(inc, runs, "re-run without new data"):
        return runs
    after = snapshot(inc, exclude=())
    runs.rerun = {name: table_diff(name, after[name], before[name], "re-run", "before") for name in PUBLISHED}
    return runs


@pytest.fixture(scope="module")
def plan() -> Plan:
    return make_plan()


@pytest.fixture(scope="module", params=ENGINES)
def runs(request: pytest.FixtureRequest, warehouse_factory: WarehouseFactory, plan: Plan) -> Iterator[Runs]:
    result = run_all(request.param, warehouse_factory, plan)
    yield result
    for wh in (result.incremental, result.reference):
        if wh is not None:
            wh.close()


# ---------------------------------------------------------------------------------------------- tests


def test_batches_hold_the_injected_cases(plan: Plan) -> None:
    """The batches (no dbt) carry every case the module promises, with the promised timing."""
    problems: list[str] = []
    batches = {k: plan.batch(k) for k in range(1, N_BATCHES + 1)}
    for k, msgs in batches.items():
        tables = {m.table for m in msgs}
        if not set(MESSAGE_TABLES) <= tables:
            problems.append(f"batch {k} lacks {sorted(set(MESSAGE_TABLES) - tables)}")
    at = {m.key: m for m in plan.messages if m.case not in ("replay-same", "replay-later", "replay-earlier")}
    lookback = dt.timedelta(hours=LOOKBACK_HOURS)

    offline = [at[key] for key in plan.offline]
    if len(offline) < 8:
        problems.append(f"only {len(offline)} offline rows")
    for m in offline:
        if parse_ts(str(m.row["timestamp"])) >= plan.max_received(m.batch - 1) - lookback:
            problems.append(f"offline row {m.key}: timestamp not older than the look-back")

    for k in LATE_BATCHES:
        late = [at[key] for key in plan.late if at[key].batch == k + 1]
        newest = plan.max_received(k)
        if not late:
            problems.append(f"no late arrival from batch {k} into {k + 1}")
        for m in late:
            if not newest - 3 * HOUR <= m.received <= newest - HOUR:
                problems.append(f"late row {m.key}: received {m.received}, batch {k} ends {newest}")

    copies: dict[tuple[str, str], list[Msg]] = {}
    for m in plan.messages:
        copies.setdefault(m.key, []).append(m)
    for key in plan.replays_same:
        first, *again = sorted(copies[key], key=lambda m: m.batch)
        same = {c: v for c, v in first.row.items() if c != "received_at"}
        if not again or any(
            r.batch <= first.batch or r.received <= first.received
            or {c: v for c, v in r.row.items() if c != "received_at"} != same
            for r in again
        ):
            problems.append(f"replay {key} is not an identical, later copy")
    table, mid, _, _ = plan.replay_earlier_event
    stored, replay = sorted(copies[(table, mid)], key=lambda m: m.batch)
    if not (replay.batch == stored.batch + 1 and plan.max_received(stored.batch) - lookback
            < replay.received < stored.received):
        problems.append(f"earlier replay {mid}: not received earlier within the look-back")

    device, user = plan.late_anchor
    device_first = min(m.received for m in plan.messages if m.row.get("anonymous_id") == device)
    user_first = min(m.received for m in plan.messages if m.row.get("user_id") == user)
    if not device_first < user_first:
        problems.append("late-anchor device is not received before its user")

    for user in plan.alias:
        late = [m.key for m in plan.messages if user in _users(m) and m.batch > 6 and m.case != "alias"]
        if late:
            problems.append(f"alias user {user} has messages after batch 6: {late}")
    junk_users = {
        m.row["user_id"] for m in plan.messages
        if m.row.get("anonymous_id") == JUNK_VALUE and m.batch < JUNK_BATCH and m.row.get("user_id")
    }
    if len(junk_users) < 2:
        problems.append(f"{JUNK_VALUE} used by {len(junk_users)} users before batch {JUNK_BATCH}")
    assert not problems, "\n".join(problems)


def test_every_build_succeeds(runs: Runs) -> None:
    """Batch 1, every appended batch (plain `dbt build`), both full refreshes and the re-run all succeed."""
    assert runs.failure is None, f"[{runs.engine}] {runs.failure}"
    assert len(runs.persons) == N_BATCHES


@pytest.mark.parametrize("relation", PUBLISHED)
def test_equal_to_full_refresh_after_junk_list_change(runs: Runs, relation: str) -> None:
    """Right after the run that picked up a value added to the junk seed, the incremental outputs equal a
    full refresh on the data loaded so far (every column but the bookkeeping ones, as multisets)."""
    if runs.mid is None:
        runs.require("the comparison after the junk-list change")
    assert runs.mid is not None
    diff = runs.mid[relation]
    assert not diff, f"[{runs.engine}] after incremental run {JUNK_BATCH}:\n" + "\n".join(diff)


@pytest.mark.parametrize("relation", PUBLISHED)
def test_equal_to_full_refresh_after_last_batch(runs: Runs, relation: str) -> None:
    """After all batches, the incremental outputs equal a full refresh on all the data (every column but
    the bookkeeping ones, as multisets, row counts too)."""
    if runs.final is None:
        runs.require("the comparison after the last batch")
    assert runs.final is not None
    diff = runs.final[relation]
    assert not diff, f"[{runs.engine}] after incremental run {N_BATCHES}:\n" + "\n".join(diff)


@pytest.mark.parametrize("relation", PUBLISHED)
def test_rerun_without_new_data_changes_no_row(runs: Runs, relation: str) -> None:
    """A `dbt build` with no new data leaves every published row as it was, bookkeeping columns included."""
    if runs.rerun is None:
        runs.require("the re-run")
    assert runs.rerun is not None
    diff = runs.rerun[relation]
    assert not diff, f"[{runs.engine}] re-run without new data:\n" + "\n".join(diff)


def test_person_ids_are_stable(runs: Runs) -> None:
    """Between consecutive runs, a person whose identifiers are unchanged keeps its person_id.

    Exempt: persons holding an identifier that a row of the new batch carries with a receipt time no later
    than the newest row already loaded (a late arrival or an earlier replay): such a row can move the first
    receipt, and so the anchor, exactly as a full refresh would.
    """
    runs.require("person ids")
    problems: list[str] = []
    checked = 0
    for k in range(1, N_BATCHES):
        before, after = runs.persons[k], runs.persons[k + 1]
        exempt = runs.plan.late_identifiers(k + 1)
        now = {identifiers: person_id for person_id, identifiers in after.items()}
        for person_id, identifiers in before.items():
            if identifiers & exempt or identifiers not in now:
                continue
            checked += 1
            if now[identifiers] != person_id:
                problems.append(
                    f"run {k} -> {k + 1}: {person_id} became {now[identifiers]} with the same identifiers "
                    f"{sorted(identifiers)[:4]}"
                )
    assert checked > 100, f"[{runs.engine}] only {checked} unchanged persons checked: the test proves little"
    assert not problems, f"[{runs.engine}] {len(problems)} person ids changed:\n" + "\n".join(problems[:20])


def _person_of(persons: Mapping[str, frozenset[tuple[str, str]]], identifier: tuple[str, str]) -> str | None:
    return next((p for p, ids in persons.items() if identifier in ids), None)


def test_alias_merge_keeps_an_existing_person_id(runs: Runs) -> None:
    """The late alias merges two persons that existed for several runs; the merged person keeps one of
    their two person ids (the older one, as a full refresh chooses)."""
    runs.require("the late alias")
    previous_id, user_id = runs.plan.alias
    before = runs.persons[ALIAS_BATCH - 1]
    after = runs.persons[ALIAS_BATCH]
    old = {_person_of(before, ("user_id", previous_id)), _person_of(before, ("user_id", user_id))}
    assert None not in old and len(old) == 2, f"[{runs.engine}] {runs.plan.alias} were not two persons: {old}"
    merged = {_person_of(after, ("user_id", previous_id)), _person_of(after, ("user_id", user_id))}
    assert len(merged) == 1 and merged <= old, (
        f"[{runs.engine}] alias {previous_id} -> {user_id}: persons {old} became {merged}"
    )
    # the change log names the merge, the surviving id and the alias that caused it
    (survivor,) = merged
    (gone,) = old - merged
    wh = runs.incremental
    assert wh is not None
    logged = wh.query(
        f"select change_kind, cause_link_kind, cause_source_table from {wh.relation('person_changes')} "
        f"where previous_person_id = '{gone}' and person_id = '{survivor}'"
    )
    assert logged == [("merge", "alias", "aliases")], f"[{runs.engine}] person_changes for the alias: {logged}"


def test_injected_cases_show_in_the_outputs(runs: Runs) -> None:
    """The cases change what the full refresh publishes, so the equality checks above are not vacuous:
    offline rows keep their old event time, the first receipt of a replay wins (an earlier copy loaded
    later included), the late device takes the anchor, the alias joins, and the junk value links nothing
    once listed (but did before)."""
    runs.require("the injected cases")
    ref = runs.reference
    assert ref is not None
    plan = runs.plan
    problems: list[str] = []

    def fct(table: str, message_id: str, column: str) -> list[Any]:
        return [r[0] for r in ref.query(
            f"select {column} from {ref.relation(FCT[table])} where message_id = '{message_id}'"
        )]

    for table, message_id in plan.replays_same:
        if table in FCT and len(fct(table, message_id, "message_id")) != 1:
            problems.append(f"replayed {table} {message_id} not exactly once in {FCT[table]}")
    table, message_id, kept, ignored = plan.replay_later_event
    if fct(table, message_id, "event") != [kept]:
        problems.append(f"later replay {message_id}: want event {kept!r} (not {ignored!r})")
    table, message_id, ghost = plan.replay_later_user
    ghosts = ref.query(
        f"select count(*) from {ref.relation('identity_links')} where identifier_a = '{ghost}' "
        f"or identifier_b = '{ghost}'"
    ) + ref.query(f"select count(*) from {ref.relation('person_identifiers')} where identifier = '{ghost}'")
    if ghosts != [(0,), (0,)]:
        problems.append(f"{ghost}, only on an ignored later replay of {message_id}, is in the graph")
    table, message_id, stored, winner = plan.replay_earlier_event
    if fct(table, message_id, "event") != [winner]:
        problems.append(f"earlier replay {message_id}: want event {winner!r} (not {stored!r})")

    offline = {m.key: m for m in plan.messages if m.case == "offline"}
    for (table, message_id), m in offline.items():
        got = [_norm(v) for v in fct(table, message_id, "event_at")]
        if got != [_norm(parse_ts(str(m.row["timestamp"])))]:
            problems.append(f"offline {table} {message_id}: event_at {got}, want {m.row['timestamp']}")

    device, user = plan.late_anchor
    want = hashlib.md5(f"anonymous_id:{device}".encode()).hexdigest()
    before = _person_of(runs.persons[LATE_ANCHOR_BATCH], ("user_id", user))
    if before != hashlib.md5(f"user_id:{user}".encode()).hexdigest():
        problems.append(f"late anchor: after run {LATE_ANCHOR_BATCH} {user} is person {before}")
    final = _person_of(runs.persons[N_BATCHES], ("user_id", user))
    if final != want:
        problems.append(f"late anchor: {user} is person {final}, want md5('anonymous_id:{device}') = {want}")

    previous_id, user_id = plan.alias
    ids = set(ref.query(
        f"select person_id from {ref.relation('person_identifiers')} "
        f"where identifier_type = 'user_id' and identifier in ('{previous_id}', '{user_id}')"
    ))
    if len(ids) != 1:
        problems.append(f"alias {previous_id} -> {user_id}: persons {ids}")

    if not runs.junk_links[JUNK_BATCH - 1] > 0:
        problems.append(f"{JUNK_VALUE} linked nothing before it became junk")
    if any(runs.junk_links[k] for k in range(JUNK_BATCH, N_BATCHES + 1)):
        problems.append(f"{JUNK_VALUE} still linked after it became junk: {runs.junk_links}")
    methods = {m for _, message_id in plan.junk_anonymous for m in fct("tracks", message_id, "attribution_method")}
    if methods != {"unattributable"}:
        problems.append(f"anonymous messages on {JUNK_VALUE}: attribution {methods}, want unattributable")
    assert not problems, f"[{runs.engine}]\n" + "\n".join(problems)


# ------------------------------------------------------------------------- a shared device that stops being shared


def _household_rows() -> dict[str, list[dict[str, str | None]]]:
    """One computer (anonymous id hh_pc) used by two accounts in separate sessions, plus an anonymous
    session between them: the device is shared, its events split by session."""
    def track(i: int, at: str, user: str | None) -> dict[str, str | None]:
        return {"id": f"hh_t{i}", "anonymous_id": "hh_pc", "user_id": user, "event": "Viewed",
                "timestamp": at, "received_at": at}
    return {
        "tracks": [track(1, "2024-05-01 09:00", None), track(2, "2024-05-01 09:05", "hh_u1"),
                   track(3, "2024-05-01 14:00", None), track(4, "2024-05-01 20:00", None),
                   track(5, "2024-05-01 20:05", "hh_u2")],
        "pages": [], "identifies": [], "aliases": [],
    }


def test_a_device_that_stops_being_shared_is_recut(duckdb_warehouse: Warehouse, tmp_path: Path) -> None:
    """An alias arriving later makes the two accounts one person: the computer is no longer shared, its
    session rows must go and every event on it moves to that person — as a full refresh says."""
    wh = duckdb_warehouse
    wh.load_tables(SOURCE_SCHEMA, _household_rows())
    wh.run_dbt("build", vars=BUILD_VARS)
    methods = dict(wh.query(f"select message_id, attribution_method from {wh.relation('fct_tracks')}"))
    assert methods["hh_t4"] == "shared_device_session", methods

    alias = {"id": "hh_al", "previous_id": "hh_u1", "user_id": "hh_u2",
             "timestamp": "2024-05-02 08:00", "received_at": "2024-05-02 08:00"}
    wh.load_tables(SOURCE_SCHEMA, {"aliases": [alias]}, append=True)
    wh.run_dbt("build", vars=BUILD_VARS)
    incremental = snapshot(wh)
    persons = {p for (p,) in wh.query(f"select distinct person_id from {wh.relation('fct_tracks')}")}
    assert len(persons) == 1, f"every event on the computer should now be one person: {persons}"
    assert wh.query("select count(*) from main_idstitch_internal.int_idstitch__shared_device_sessions") == [(0,)]

    with Warehouse("duckdb", tmp_path / "full") as full:
        rows = _household_rows()
        rows["aliases"] = [alias]
        full.load_tables(SOURCE_SCHEMA, rows)
        full.run_dbt("build", "--full-refresh", vars=BUILD_VARS)
        reference = snapshot(full)
    problems = [line for name in PUBLISHED
                for line in table_diff(name, incremental[name], reference[name], "incremental", "full refresh")]
    assert not problems, "\n".join(problems)
