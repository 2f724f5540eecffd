"""Hostile and broken input that a CSV fixture cannot hold, generated here, built once per engine.

The scenario fixtures (tests/fixtures/scenarios/13_* to 17_*) cover what fits in a hand-written CSV: junk ids
in other cases and padded, quotes / backslashes / semicolons / ``--`` / emoji / right-to-left text in ids,
alias cycles, self-aliases and aliases to junk, timestamps in 1970, year 1 and the far future, and
``received_at`` before ``timestamp``. This module covers the rest, in one data set loaded into ``segment``
(ids prefixed ``h_``):

* ids with newlines, carriage returns, tabs, NUL-like escapes, control, zero-width and bidi characters,
  SQL and template fragments (``HOSTILE``), each a person of its own that must round-trip byte-exact;
  hostile message ids (``HOSTILE_MESSAGE_IDS``);
* ids that differ only by an invisible character, a no-break space, a combining accent or case: never merged;
* 10,000-character user ids, anonymous ids, e-mails and message ids;
* an anonymous id shared by 10,000 users (``CROWD``), an e-mail shared by 1,000 accounts (``MAIL``);
* every junk value of the seed (and of ``EXTRA_JUNK``, which carries a quote, a backslash and ``--``) in
  other cases and padded with spaces, as user id, anonymous id and e-mail of several devices;
* the same message id received twice with different content (the first received wins, the conflict is
  recorded in ``stg_idstitch__replayed_messages.receipts_conflict``) and an identical replay;
* NULL in every column (a row without a message id: left out with a warning naming the table), rows that
  carry only a message id, NULL timestamps, aliases with a NULL side;
* timestamps in year 12000 and ``infinity``; one message id in two tables; extra columns with odd names.

Every message has an expected person label; the test compares the partition of messages by ``person_id``
with the partition by label (``test_scenarios.partition_diff``), then checks the specific guarantees.
DuckDB and Postgres are each built once (module fixtures) and compared. Two more tests build data of their
own on each engine: a source column named like one idstitch writes (refused, naming it), and a row
received in the future before an incremental run.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest

from helpers.warehouse import Warehouse, WarehouseFactory
from test_scenarios import SEED_JUNK, partition_diff

SOURCE_SCHEMA = "segment"
INTERNAL_SCHEMA_SUFFIX = "_idstitch_internal"
MESSAGE_TABLES = ("tracks", "pages", "identifies")
FCT = {"tracks": "fct_tracks", "pages": "fct_pages", "identifies": "fct_identifies"}
HUB_LIMIT = 50  # the default idstitch__max_links_per_identifier: this module builds with the defaults
EXTRA_JUNK = ["it's junk", "back\\slash junk", "semi;colon -- junk"]
BUILD_VARS = {"idstitch__extra_junk_identifiers": EXTRA_JUNK}

N_CROWD = 10_000  # users on one anonymous id
N_MAIL = 1_000  # accounts on one e-mail
LONG = 10_000  # characters in a long id
CROWD = "h_crowd_device"
MAIL = "shared.h@example.com"
BASE = dt.datetime(2026, 2, 1, 9, 0, 0)

# (name, text): embedded in an id (``h_u<n>_<text>``), so leading/trailing spaces never apply; e-mails are
# lower-cased, so every text is its own lower case.
HOSTILE: list[tuple[str, str]] = [
    ("single quote", "o'brien"),
    ("double quote", 'say "hi"'),
    ("backslashes", "back\\slash\\"),
    ("sql injection", "x'); drop table segment.tracks; --"),
    ("line comment", "-- not a comment"),
    ("block comment", "/* not a comment */"),
    ("semicolons", "semi;colon;"),
    ("newline", "line1\nline2"),
    ("crlf", "crlf\r\nend"),
    ("trailing newline", "ends-with-newline\n"),
    ("carriage return", "cr\rcr"),
    ("tab", "tab\there"),
    ("nul escape", "nul\\0"),
    ("nul unicode escape", "nul\\u0000"),
    ("nul hex escape", "nul\\x00"),
    ("copy null marker", "\\N"),
    ("nul symbol", "nul\u2400"),
    ("replacement character", "bad\ufffdutf8"),
    ("control characters", "ctrl\x01\x1b\x1f\x7f"),
    ("zero-width space", "zw\u200bsp"),
    ("zero-width joiners", "zw\u200c\u200djoin"),
    ("byte order mark", "\ufeffbom"),
    ("word joiner", "wj\u2060"),
    ("emoji", "🦄🔥"),
    ("emoji zwj sequence", "👨‍👩‍👧‍👦"),
    ("flag", "🇺🇦"),
    ("arabic", "مرحبا"),
    ("hebrew", "שלום"),
    ("bidi override", "\u202eevil\u202c"),
    ("like wildcards", "100%_like"),
    ("jinja", "{{ var('idstitch__source_schema') }}{% raw %}"),
    ("placeholders", "$1 ? :name %s ${x}"),
    ("json", '{"id": [1, null]}'),
    ("xml", "<a href='x'>&amp;</a>"),
]

# Pairs of user ids that look alike but are different values: never one person.
LOOKALIKES: list[tuple[str, str]] = [
    ("h_look_zw", "h_look_zw\u200b"),
    ("h_look_\u00e9", "h_look_e\u0301"),  # precomposed é vs e + combining acute: no Unicode normalisation
    ("h_look_case", "H_LOOK_CASE"),  # user ids are case-sensitive; only e-mails are lower-cased
    ("h_look_nbsp", "h_look_nbsp\u00a0"),  # a no-break space is not a space: not trimmed
]

# Message ids that are hostile themselves; "h_mid_pad" and "h_mid_pad " are two messages.
HOSTILE_MESSAGE_IDS = ["h_mid_o'brien", "h_mid_line\nbreak", "h_mid_🦄", "h_mid_" + "m" * (LONG - 6),
                       "h_mid_pad", "h_mid_pad ", "h_mid_x'); drop table segment.tracks; --"]

# Extra source columns with names that need quoting: passed through to the facts under the same name.
ODD_COLUMNS = ["Context Page URL", "select", "ünïcode_✓"]

MessageKey = tuple[str, str]


def junk_values() -> list[str]:
    """The seed's junk values, 'null' (built in), the zeros-and-dashes rule's examples and EXTRA_JUNK."""
    return [*SEED_JUNK, "null", "0000", "--", "-0-", "00000000-0000-0000-0000-000000000000", *EXTRA_JUNK]


def junk_variants() -> list[str]:
    """Each junk value in other cases and padded with spaces (never the value as written in the seed)."""
    out: list[str] = []
    for value in junk_values():
        for variant in (value.upper(), value.title(), f"  {value}  ", f" {value.upper()}", f"{value.title()}   "):
            if variant not in out and variant != value:
                out.append(variant)
    return out


@dataclass
class Dataset:
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    expected: dict[MessageKey, str] = field(default_factory=dict)
    counter: Counter[str] = field(default_factory=Counter)
    clock: dt.datetime = BASE

    def add(self, table: str, label: str | None, **columns: Any) -> str:
        """One source row; a fresh message id unless ``id`` is given; ``label`` None: not in the facts."""
        if "id" not in columns:
            self.counter[table] += 1
            columns["id"] = f"h_{table[:2]}_{self.counter[table]}"
        if "timestamp" not in columns:
            self.clock += dt.timedelta(seconds=1)
            columns["timestamp"] = self.clock
        if "received_at" not in columns:
            ts = columns["timestamp"]
            columns["received_at"] = ts + dt.timedelta(seconds=2) if ts is not None else None
        self.tables[table].append(columns)
        if label is not None and table in MESSAGE_TABLES:
            self.expected[(table, str(columns["id"]))] = label
        return str(columns["id"])


def hostile_ids(n: int, text: str) -> tuple[str, str, str]:
    """(user id, anonymous id, e-mail) of hostile case n."""
    return f"h_u{n}_{text}", f"h_a{n}_{text}", f"h{n}.{text}@hostile.example"


def long_ids() -> dict[str, str]:
    return {
        "user_1": "h_long_u_" + "x" * (LONG - 10) + "1",
        "user_2": "h_long_u_" + "x" * (LONG - 10) + "2",  # differs from user_1 in the last character only
        "anon": "h_long_a_" + "y" * (LONG - 9),
        "email": "h_long_" + "z" * (LONG - 20) + "@long.example",
    }


def build_dataset() -> Dataset:
    ds = Dataset()

    # --- hostile strings: device before login, identify with e-mail, server-side page with the user id
    for n, (_name, text) in enumerate(HOSTILE):
        assert text.lower() == text.lower().upper().lower(), f"{text!r}: keep case mapping simple (ASCII)"
        user, anon, email = hostile_ids(n, text)
        label = f"hostile_{n}"
        ds.add("tracks", label, anonymous_id=anon, user_id=None, event=text)
        ds.add("identifies", label, anonymous_id=anon, user_id=user, email=email, name=text)
        ds.add("pages", label, anonymous_id=None, user_id=user, name=text, path="/" + text)

    # --- look-alike user ids on devices of their own: two persons each
    for n, pair in enumerate(LOOKALIKES):
        for side, user in enumerate(pair):
            label = f"look_{n}_{side}"
            ds.add("tracks", label, anonymous_id=f"h_look_a{n}_{side}", user_id=None, event="x")
            ds.add("tracks", label, anonymous_id=f"h_look_a{n}_{side}", user_id=user, event="x")
    # padding is trimmed: "  h_pad_u  " is h_pad_u
    ds.add("tracks", "pad", anonymous_id="h_pad_a1", user_id="  h_pad_u  ", event="x")
    ds.add("tracks", "pad", anonymous_id=" h_pad_a2", user_id="h_pad_u", event="x")
    ds.add("pages", "pad", anonymous_id="h_pad_a2   ", user_id=None, name="x")

    # --- 10,000-character ids
    ids = long_ids()
    ds.add("tracks", "long_1", anonymous_id=ids["anon"], user_id=None, event="x")
    ds.add("identifies", "long_1", anonymous_id=ids["anon"], user_id=ids["user_1"], email=ids["email"])
    ds.add("tracks", "long_2", anonymous_id="h_long_a2", user_id=ids["user_2"], event="x")
    ds.add("identifies", "long_1", anonymous_id=None, user_id=None, email=ids["email"].upper())

    # --- replays: the same message id twice
    t0 = dt.datetime(2026, 2, 2, 8, 0, 0)
    ds.add("identifies", "rp_1", anonymous_id="h_rp_a1", user_id="h_rp_u1", email=None)
    ds.add("tracks", "rp_1", id="h_rp_1", anonymous_id="h_rp_a1", user_id="h_rp_u1", event="first",
           timestamp=t0, received_at=t0 + dt.timedelta(seconds=1))
    ds.add("tracks", None, id="h_rp_1", anonymous_id="h_rp_a1", user_id="h_rp_ghost1", event="second",
           timestamp=t0, received_at=t0 + dt.timedelta(hours=1))
    # the later receipt comes first in the table: the order rows are stored in does not matter
    ds.add("identifies", "rp_2", anonymous_id="h_rp_a2", user_id="h_rp_u2", email=None)
    ds.add("tracks", None, id="h_rp_2", anonymous_id="h_rp_ghost_a2", user_id="h_rp_ghost2", event="late",
           timestamp=t0 + dt.timedelta(minutes=5), received_at=t0 + dt.timedelta(hours=2))
    ds.add("tracks", "rp_2", id="h_rp_2", anonymous_id="h_rp_a2", user_id="h_rp_u2", event="early",
           timestamp=t0, received_at=t0 + dt.timedelta(seconds=5))
    # an identical replay: no conflict
    ds.add("pages", "rp_3", id="h_rp_3", anonymous_id="h_rp_a3", user_id=None, name="same",
           timestamp=t0, received_at=t0 + dt.timedelta(seconds=1))
    ds.add("pages", None, id="h_rp_3", anonymous_id="h_rp_a3", user_id=None, name="same",
           timestamp=t0, received_at=t0 + dt.timedelta(minutes=30))
    # received in the same instant with different content: the earlier event time wins, on every engine
    ds.add("identifies", "rp_4", anonymous_id="h_rp_a4", user_id="h_rp_u4", email=None)
    ds.add("tracks", None, id="h_rp_4", anonymous_id="h_rp_a4b", user_id="h_rp_u4b", event="b",
           timestamp=t0 + dt.timedelta(seconds=9), received_at=t0 + dt.timedelta(seconds=10))
    ds.add("tracks", "rp_4", id="h_rp_4", anonymous_id="h_rp_a4", user_id="h_rp_u4", event="a",
           timestamp=t0 + dt.timedelta(seconds=8), received_at=t0 + dt.timedelta(seconds=10))

    # --- NULLs
    ds.add("tracks", None, id=None, anonymous_id=None, user_id=None, event=None, timestamp=None,
           received_at=None, context_user_agent=None)
    for table in MESSAGE_TABLES:
        for k in (1, 2):  # two id-only messages: two persons, never a bucket
            mid = f"h_null_{table[:2]}{k}"
            ds.add(table, mid, id=mid, anonymous_id=None, user_id=None, timestamp=None, received_at=None)
    ds.add("aliases", None, id="h_null_al1", previous_id=None, user_id=None, timestamp=None, received_at=None)
    ds.add("aliases", None, id="h_null_al2", previous_id=None, user_id="h_nullts_u")
    ds.add("aliases", None, id="h_null_al3", previous_id="h_nullts_u", user_id=None)
    ds.add("identifies", "nullts", anonymous_id="h_nullts_a", user_id="h_nullts_u", email=None, name=None)
    ds.add("tracks", "nullts", anonymous_id="h_nullts_a", user_id="h_nullts_u", event=None,
           timestamp=None, received_at=None)
    ds.add("pages", "nullts", anonymous_id="h_nullts_a", user_id=None, name=None, timestamp=None, received_at=None)
    ds.add("tracks", "nullts", anonymous_id=None, user_id="h_nullts_u", event="x",
           timestamp=BASE, received_at=None)  # received_at NULL, timestamp set

    # --- hostile message ids: each its own message, kept byte-exact (message ids are never trimmed)
    for n, mid in enumerate(HOSTILE_MESSAGE_IDS):
        ds.add("tracks", f"mid_{n}", id=mid, anonymous_id=f"h_mid_a{n}", user_id=None, event="x")

    # --- timestamps Python cannot even hold: a five-digit year, and infinity
    ds.add("tracks", "ts_far", anonymous_id="h_ts_a1", user_id=None, event="x")
    ds.add("tracks", "ts_far", id="h_ts_far", anonymous_id="h_ts_a1", user_id="h_ts_u1", event="x",
           timestamp="12000-01-01 00:00:00", received_at="2026-02-01 10:00:00")
    ds.add("tracks", "ts_inf", id="h_ts_inf", anonymous_id="h_ts_a2", user_id="h_ts_u2", event="x",
           timestamp="infinity", received_at="2026-02-01 10:00:00")

    # --- one message id in two tables: two messages
    ds.add("tracks", "dup_t", id="h_dup_1", anonymous_id="h_dup_a1", user_id="h_dup_u1", event="x",
           **{name: f"value of {name}" for name in ODD_COLUMNS})
    ds.add("pages", "dup_p", id="h_dup_1", anonymous_id="h_dup_a2", user_id="h_dup_u2", name="x")

    # --- junk in other cases and padded, in every id column, on several devices and users
    for k, junk in enumerate(junk_variants()):
        ds.add("tracks", f"junk_{k}_a1", anonymous_id=f"h_j{k}_a1", user_id=junk, event="x")
        ds.add("tracks", f"junk_{k}_a2", anonymous_id=f"h_j{k}_a2", user_id=junk, event="x")
        ds.add("pages", f"junk_{k}_u1", anonymous_id=junk, user_id=f"h_j{k}_u1", name="x")
        ds.add("pages", f"junk_{k}_u2", anonymous_id=junk, user_id=f"h_j{k}_u2", name="x")
        ds.add("identifies", f"junk_{k}_a3", anonymous_id=f"h_j{k}_a3", user_id=None, email=junk)
        ds.add("identifies", f"junk_{k}_a4", anonymous_id=f"h_j{k}_a4", user_id=None, email=junk)
        ds.add("identifies", f"junk_{k}_all", anonymous_id=junk, user_id=junk, email=junk)

    # --- one e-mail, 1,000 accounts (spelt three ways); an identify with nothing but the e-mail
    spellings = [MAIL, f"  {MAIL.title()} ", MAIL.upper()]
    for i in range(N_MAIL):
        ds.add("identifies", f"mail_{i}", anonymous_id=f"h_mail_a{i}", user_id=f"h_mail_u{i}",
               email=spellings[i % 3])
        ds.add("tracks", f"mail_{i}", anonymous_id=f"h_mail_a{i}", user_id=None, event="x")
    ds.add("identifies", "mail_only", anonymous_id=None, user_id=None, email=MAIL)

    # --- one anonymous id, 10,000 users, 10 s apart (one long session of hand-overs)
    start = dt.datetime(2026, 3, 1, 0, 0, 0)
    for i in range(N_CROWD):
        ds.add("tracks", f"crowd_{i}", anonymous_id=CROWD, user_id=f"h_crowd_u{i}", event="x",
               timestamp=start + dt.timedelta(seconds=10 * i))
    for i in range(3):  # three of them have a device of their own too
        ds.add("pages", f"crowd_{i}", anonymous_id=f"h_crowd_own{i}", user_id=None, name="x")
        ds.add("tracks", f"crowd_{i}", anonymous_id=f"h_crowd_own{i}", user_id=f"h_crowd_u{i}", event="x")
    # anonymous events on the crowd device: 5 s after user 42 (its session), 2 h after the last (nobody's),
    # and one without a timestamp (a session of its own)
    ds.add("pages", "crowd_42", anonymous_id=CROWD, user_id=None, name="x",
           timestamp=start + dt.timedelta(seconds=10 * 42 + 5))
    ds.add("pages", "crowd_late", anonymous_id=CROWD, user_id=None, name="x",
           timestamp=start + dt.timedelta(seconds=10 * N_CROWD + 7200))
    ds.add("pages", "crowd_nullts", anonymous_id=CROWD, user_id=None, name="x", timestamp=None, received_at=None)
    return ds


DATASET = build_dataset()


# ---------------------------------------------------------------------------------------------- builds


@dataclass
class Build:
    warehouse: Warehouse
    returncode: int
    output: str
    rows: dict[MessageKey, list[tuple[Any, Any]]]  # (table, message_id) -> [(person_id, method)]

    def internal(self, name: str) -> str:
        return self.warehouse.relation(name, self.warehouse.schema + INTERNAL_SCHEMA_SUFFIX)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return self.warehouse.query(sql)


def _build(engine: str, factory: WarehouseFactory) -> Build:
    wh = factory(engine)  # type: ignore[arg-type]
    column_types = {
        "tracks": {"context_user_agent": "text", "event": "text", **dict.fromkeys(ODD_COLUMNS, "text")},
        "pages": {"name": "text", "path": "text"},
        "identifies": {"email": "text", "name": "text", "plan": "text"},
    }
    wh.load_tables(SOURCE_SCHEMA, DATASET.tables, column_types=column_types)
    proc = wh.run_dbt("build", vars=BUILD_VARS, expect_ok=False)
    rows: dict[MessageKey, list[tuple[Any, Any]]] = defaultdict(list)
    if proc.returncode == 0:
        for table, fct in FCT.items():
            for mid, pid, method in wh.query(
                f"select message_id, person_id, attribution_method from {wh.relation(fct)}"
            ):
                rows[(table, mid)].append((pid, method))
    return Build(wh, proc.returncode, proc.stdout + proc.stderr, dict(rows))


@pytest.fixture(scope="module")
def duckdb_build(warehouse_factory: WarehouseFactory) -> Build:
    return _build("duckdb", warehouse_factory)


@pytest.fixture(scope="module")
def postgres_build(warehouse_factory: WarehouseFactory) -> Build:
    return _build("postgres", warehouse_factory)


ENGINES = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=ENGINES)
def build(request: pytest.FixtureRequest) -> Build:
    b: Build = request.getfixturevalue(f"{request.param}_build")
    tail = "\n".join(b.output.splitlines()[-60:])
    assert b.returncode == 0, f"dbt build failed on {request.param}:\n{tail}"
    return b


def _single(build: Build) -> dict[MessageKey, tuple[Any, Any]]:
    return {k: v[0] for k, v in build.rows.items() if len(v) == 1}


# ---------------------------------------------------------------------------------------------- checks


def test_every_message_once_and_the_expected_persons(build: Build) -> None:
    problems = [f"{k!r} appears {len(v)} times in {FCT[k[0]]}" for k, v in build.rows.items() if len(v) != 1]
    missing = sorted(set(DATASET.expected) - set(build.rows))
    stray = sorted(set(build.rows) - set(DATASET.expected))
    problems += [f"missing from the facts: {missing[:20]!r}"] if missing else []
    problems += [f"in the facts but not expected: {stray[:20]!r}"] if stray else []
    assert not problems, "\n".join(problems)
    single = _single(build)
    actual = {k: single[k][0] for k in DATASET.expected}

    def fmt(k: MessageKey) -> str:
        return f"{k[0]}:{k[1]!r}[{single[k][1]}]"

    # the legend of person ids (the last line) would list every one of ~12,000 persons: left out
    diff = [line for line in partition_diff(DATASET.expected, actual, fmt=fmt) if not line.startswith("(person")]
    assert not diff, f"[{build.warehouse.target}] persons differ from the expected labels:\n  " + "\n  ".join(
        diff[:40]
    )


def test_the_audit_is_empty_and_no_person_has_two_user_ids(build: Build) -> None:
    wh = build.warehouse
    assert wh.query(f"select violation, subject from {wh.relation('idstitch_violations')}") == []
    # no alias in this data joins two user ids: a person holds at most one
    assert wh.query(
        f"select person_id, count(*) from {wh.relation('person_identifiers')} "
        "where identifier_type = 'user_id' group by person_id having count(*) > 1"
    ) == []


def test_a_row_without_message_id_is_left_out_with_a_warning_naming_the_table(build: Build) -> None:
    """Every column NULL, the id too: the build succeeds, the row is in no fact, a test warns naming it."""
    warnings = re.findall(r"Warning in test (\S+)", build.output)
    assert warnings == ["source_idstitch_not_null_when_present_idstitch_segment_tracks_id"]
    assert re.search(r"Got 1 result, configured to warn if != 0", build.output)
    assert not [k for k in build.rows if k[1] is None]


def test_hostile_strings_round_trip_byte_exact(build: Build) -> None:
    """Published ids are the clean values (e-mails lower-cased), every other column as loaded, byte for byte."""
    wh = build.warehouse
    problems: list[str] = []
    identifies = {r["message_id"]: r for r in wh.query_dicts(
        f"select message_id, anonymous_id, user_id, email, name from {wh.relation('fct_identifies')} "
        "where message_id like 'h_id_%'")}
    pages = {r["message_id"]: r for r in wh.query_dicts(
        f"select message_id, anonymous_id, user_id, name, path from {wh.relation('fct_pages')} "
        "where message_id like 'h_pa_%'")}
    for n, (name, text) in enumerate(HOSTILE):
        user, anon, email = hostile_ids(n, text)
        want = {"message_id": f"h_id_{n + 1}", "anonymous_id": anon, "user_id": user, "email": email.lower(),
                "name": text}
        if identifies.get(want["message_id"]) != want:
            problems.append(f"{name}: fct_identifies has {identifies.get(want['message_id'])!r}, want {want!r}")
        want = {"message_id": f"h_pa_{n + 1}", "anonymous_id": None, "user_id": user, "name": text,
                "path": "/" + text}
        if pages.get(want["message_id"]) != want:
            problems.append(f"{name}: fct_pages has {pages.get(want['message_id'])!r}, want {want!r}")
    identifiers = set(wh.query(f"select identifier_type, identifier from {wh.relation('person_identifiers')}"))
    for n, (name, text) in enumerate(HOSTILE):
        user, anon, email = hostile_ids(n, text)
        for kind, value in (("user_id", user), ("anonymous_id", anon), ("email", email.lower())):
            if (kind, value) not in identifiers:
                problems.append(f"{name}: ({kind}, {value!r}) not in person_identifiers")
    assert not problems, "\n".join(problems)


def test_ten_thousand_character_ids(build: Build) -> None:
    """Stored whole (no truncation), compared whole: two user ids differing in the last character stay apart."""
    wh = build.warehouse
    long = long_ids()
    persons = dict(wh.query(
        f"select identifier, person_id from {wh.relation('person_identifiers')} "
        "where identifier like 'h\\_long\\_%' escape '\\' and length(identifier) > 100"))
    assert sorted(persons) == sorted(long.values())
    assert persons[long["user_1"]] == persons[long["anon"]] == persons[long["email"]] != persons[long["user_2"]]


def test_lookalike_ids_stay_apart_and_padding_is_trimmed(build: Build) -> None:
    wh = build.warehouse
    persons = dict(wh.query(
        f"select identifier, person_id from {wh.relation('person_identifiers')} "
        "where identifier_type = 'user_id' and lower(identifier) like 'h\\_look\\_%' escape '\\'"))
    lookalikes = [user for pair in LOOKALIKES for user in pair]
    assert sorted(persons) == sorted(lookalikes)
    assert len(set(persons.values())) == len(lookalikes)
    padded = set(wh.query(
        f"select identifier_type, identifier from {wh.relation('person_identifiers')} "
        "where identifier like '%h\\_pad\\_%' escape '\\'"))
    assert padded == {("user_id", "h_pad_u"), ("anonymous_id", "h_pad_a1"), ("anonymous_id", "h_pad_a2")}


def test_the_crowd_device_is_quarantined_and_welds_nobody(build: Build) -> None:
    """One anonymous id, 10,000 users: a hub; each user stays alone; its anonymous events follow the session."""
    wh = build.warehouse
    assert wh.query(
        f"select reason, n_messages from {wh.relation('identity_refusals')} "
        f"where refusal_kind = 'identifier' and identifier_a = '{CROWD}'"
    ) == [("hub_identifier", N_CROWD + 3)]
    assert wh.query(
        f"select is_accepted, refusal_reason, count(*) from {wh.relation('identity_links')} "
        f"where identifier_a = '{CROWD}' or identifier_b = '{CROWD}' group by is_accepted, refusal_reason"
    ) == [(False, "hub_identifier", N_CROWD)]
    assert wh.query(
        f"select count(distinct person_id), count(*) from {wh.relation('fct_tracks')} "
        f"where anonymous_id = '{CROWD}' and attribution_method = 'user_id'"
    ) == [(N_CROWD, N_CROWD)]
    # the device is a person of its own, with no user id
    assert wh.query(
        f"select identity_status, n_user_ids from {wh.relation('person_identifiers')} as pi "
        f"inner join {wh.relation('dim_person')} as p on pi.person_id = p.person_id "
        f"where pi.identifier = '{CROWD}'"
    ) == [("shared_device", 0)]
    single = _single(build)
    methods = {DATASET.expected[k]: single[k][1] for k in DATASET.expected if k[0] == "pages"
               and DATASET.expected[k] in ("crowd_42", "crowd_late", "crowd_nullts")
               and k in single and single[k][1].startswith("shared")}
    assert methods == {"crowd_42": "shared_device_session", "crowd_late": "shared_device",
                       "crowd_nullts": "shared_device"}


def test_the_shared_email_joins_no_accounts_and_is_recorded(build: Build) -> None:
    """One e-mail (three spellings), 1,000 accounts: a hub, refused with a reason; no two accounts joined."""
    wh = build.warehouse
    assert wh.query(
        f"select reason from {wh.relation('identity_refusals')} "
        f"where refusal_kind = 'identifier' and identifier_type_a = 'email' and identifier_a = '{MAIL}'"
    ) == [("hub_identifier",)]
    assert wh.query(
        f"select is_accepted, refusal_reason, count(*) from {wh.relation('identity_links')} "
        f"where identifier_a = '{MAIL}' or identifier_b = '{MAIL}' group by is_accepted, refusal_reason"
    ) == [(False, "hub_identifier", 2 * N_MAIL)]  # to each account's user id and to its device
    assert wh.query(f"select count(*) from {wh.relation('person_identifiers')} where identifier = '{MAIL}'") == [
        (0,)
    ]
    assert wh.query(
        f"select email, count(*), count(distinct person_id) from {wh.relation('fct_identifies')} "
        f"where lower(email) like '%shared.h@example.com%' group by email"
    ) == [(MAIL, N_MAIL + 1, N_MAIL + 1)]  # every spelling published clean; 1,000 accounts + the e-mail alone


def test_junk_in_other_cases_and_padded_is_junk(build: Build) -> None:
    wh = build.warehouse
    junk_messages = {k for k, label in DATASET.expected.items() if label.startswith("junk_")}
    published: set[str] = set()
    for table, fct in FCT.items():
        columns = ["anonymous_id", "user_id"] + (["email"] if table == "identifies" else [])
        for row in wh.query(f"select message_id, {', '.join(columns)} from {wh.relation(fct)}"):
            if (table, row[0]) in junk_messages:
                published |= {v for v in row[1:] if v is not None and not v.startswith("h_j")}
    assert published == set(), f"junk published as an id: {sorted(published)!r}"
    variants = junk_variants()
    junk_like = {v.strip(" ").lower() for v in variants}
    graph = {v for (v,) in wh.query(f"select identifier from {wh.relation('person_identifiers')}")}
    assert graph.isdisjoint(junk_like | set(variants))
    single = _single(build)
    methods = Counter(single[k][1] for k in junk_messages if DATASET.expected[k].endswith("_all"))
    assert methods == {"unattributable": len(variants)}


def test_replays_first_received_wins_and_conflicts_are_recorded(build: Build) -> None:
    wh = build.warehouse
    assert wh.query_dicts(
        f"select message_id, anonymous_id, user_id, event from {wh.relation('fct_tracks')} "
        "where message_id in ('h_rp_1', 'h_rp_2', 'h_rp_4') order by message_id"
    ) == [
        {"message_id": "h_rp_1", "anonymous_id": "h_rp_a1", "user_id": "h_rp_u1", "event": "first"},
        {"message_id": "h_rp_2", "anonymous_id": "h_rp_a2", "user_id": "h_rp_u2", "event": "early"},
        {"message_id": "h_rp_4", "anonymous_id": "h_rp_a4", "user_id": "h_rp_u4", "event": "a"},
    ]
    # the losing receipts' ids never reach the graph
    ghosts = {"h_rp_ghost1", "h_rp_ghost2", "h_rp_ghost_a2", "h_rp_u4b", "h_rp_a4b"}
    graph = {v for (v,) in wh.query(f"select identifier from {wh.relation('person_identifiers')}")}
    assert graph.isdisjoint(ghosts)
    replayed = {
        (t, m): (n, c)
        for t, m, n, c in wh.query(
            "select source_table, message_id, n_receipts, receipts_conflict "
            f"from {build.internal('stg_idstitch__replayed_messages')}"
        )
    }
    assert replayed == {
        ("tracks", "h_rp_1"): (2, True),
        ("tracks", "h_rp_2"): (2, True),
        ("pages", "h_rp_3"): (2, False),  # an identical copy is a plain replay
        ("tracks", "h_rp_4"): (2, True),
    }


def test_rows_with_nulls(build: Build) -> None:
    single = _single(build)
    for table in MESSAGE_TABLES:
        for k in (1, 2):  # id-only messages: unattributable, each a person of its own (the partition)
            assert single[(table, f"h_null_{table[:2]}{k}")][1] == "unattributable"
    wh = build.warehouse
    assert wh.query(
        f"select source_table, count(*) from {wh.relation('identity_links')} "
        "where identifier_a = 'h_nullts_u' or identifier_b = 'h_nullts_u' group by source_table order by 1"
    ) == [("identifies", 1), ("tracks", 1)]  # to its device; the aliases with a NULL side link nothing


def test_a_five_digit_year_does_not_corrupt_first_and_latest_values(build: Build) -> None:
    """first_by / last_by cut a value off a fixed-width timestamp prefix: year 12000 must not shift it."""
    wh = build.warehouse
    assert wh.query(
        f"select first_message_id from {wh.relation('identity_links')} "
        "where identifier_a in ('h_ts_a1', 'h_ts_u1') and identifier_b in ('h_ts_a1', 'h_ts_u1')"
    ) == [("h_ts_far",)]
    customers = {c for (c,) in wh.query(f"select customer_id from {wh.relation('dim_person')}")}
    assert {"h_ts_u1", "h_ts_u2"} <= customers


def test_extra_columns_with_odd_names_pass_through(build: Build) -> None:
    wh = build.warehouse
    rows = wh.query_dicts(f"select * from {wh.relation('fct_tracks')} where message_id = 'h_dup_1'")
    assert len(rows) == 1
    assert {name: rows[0].get(name) for name in ODD_COLUMNS} == {name: f"value of {name}" for name in ODD_COLUMNS}


def test_a_source_column_idstitch_writes_itself_is_refused_naming_it(warehouse: Warehouse) -> None:
    """A trait called person_id (any case) would be a second person_id column in the facts: Postgres failed
    with 'column specified more than once', DuckDB silently renamed one. Now both stop before building."""
    wh = warehouse
    wh.load_tables(SOURCE_SCHEMA, {
        "tracks": [{"id": "h_c_1", "anonymous_id": "h_c_a", "user_id": None, "event": "x",
                    "timestamp": BASE, "received_at": BASE}],
        "pages": [],
        "identifies": [{"id": "h_c_2", "anonymous_id": "h_c_a", "user_id": "h_c_u", "email": None, "name": None,
                        "plan": None, "timestamp": BASE, "received_at": BASE, "Person_ID": "crm-42", 'a"b': "x"}],
        "aliases": [],
    })
    proc = wh.run_dbt("build", expect_ok=False)
    assert proc.returncode != 0
    assert re.search(
        r'source table \S+"identifies" has column\(s\) Person_ID, which idstitch writes itself \(message_id, '
        r'event_at, person_id, attribution_method\) and column name\(s\) containing a double quote: a"b\. '
        r"Rename them in a view over the table and set var idstitch__identifies_table to that view\.",
        proc.stdout,
    ), proc.stdout[-3000:]
    assert not wh.table_exists("fct_tracks")


@pytest.mark.postgres
def test_engines_agree(duckdb_build: Build, postgres_build: Build) -> None:
    """Facts, persons, identifiers and links (all but the timestamps) identical on DuckDB and Postgres."""

    def facts(b: Build) -> set[tuple[Any, ...]]:
        return {(t, m, p, a) for (t, m), got in b.rows.items() for p, a in got}

    def identifiers(b: Build) -> set[tuple[Any, ...]]:
        return set(b.query(
            f"select identifier_type, identifier, person_id from {b.warehouse.relation('person_identifiers')}"))

    def persons(b: Build) -> set[tuple[Any, ...]]:
        return set(b.query(
            "select person_id, customer_id, is_identified, n_user_ids, n_anonymous_ids, n_emails, n_events "
            f"from {b.warehouse.relation('dim_person')}"))

    def links(b: Build) -> set[tuple[Any, ...]]:
        return set(b.query(
            "select identifier_type_a, identifier_a, identifier_type_b, identifier_b, link_kind, source_table, "
            "first_message_id, message_count, is_accepted, refusal_reason "
            f"from {b.warehouse.relation('identity_links')}"))

    lines: list[str] = []
    checks = (("facts", facts), ("person_identifiers", identifiers), ("dim_person", persons), ("identity_links", links))
    for what, get in checks:
        duck, pg = get(duckdb_build), get(postgres_build)
        lines += [f"{what}, duckdb only:   {r!r}" for r in sorted(duck - pg, key=repr)[:10]]
        lines += [f"{what}, postgres only: {r!r}" for r in sorted(pg - duck, key=repr)[:10]]
    assert not lines, "engines disagree:\n  " + "\n  ".join(lines)


def test_a_row_received_in_the_future_does_not_hide_later_rows(warehouse: Warehouse) -> None:
    """Incremental runs read rows received since the newest one indexed (minus the look-back): one row with
    ``received_at`` in year 2999 must not move that window past every row still to come."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    day_before = now - dt.timedelta(days=1)
    wh = warehouse
    wh.load_tables(SOURCE_SCHEMA, {
        "tracks": [
            {"id": "h_fut_1", "anonymous_id": "h_fut_a1", "user_id": "h_fut_u1", "event": "x",
             "timestamp": day_before, "received_at": "2999-01-01 00:00:00"},
            {"id": "h_fut_2", "anonymous_id": "h_fut_a2", "user_id": None, "event": "x",
             "timestamp": day_before, "received_at": day_before},
        ],
        "pages": [], "identifies": [], "aliases": [],
    })
    wh.run_dbt("build")
    late = now - dt.timedelta(hours=1)  # received after the first run, as new rows are
    wh.load_tables(SOURCE_SCHEMA, {"tracks": [
        {"id": "h_fut_3", "anonymous_id": "h_fut_a2", "user_id": "h_fut_u2", "event": "x",
         "timestamp": late, "received_at": late},
    ]}, append=True)
    wh.run_dbt("build")  # the audit (every source message exactly once in its fact table) is one of its tests
    rows = dict(wh.query(f"select message_id, attribution_method from {wh.relation('fct_tracks')}"))
    assert rows == {"h_fut_1": "user_id", "h_fut_2": "device", "h_fut_3": "user_id"}
