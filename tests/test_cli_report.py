"""``idstitch report`` — one self-contained HTML page of charts — against real DuckDB and Postgres warehouses.

Per engine (``postgres`` marker for the Postgres half) one module fixture loads every scenario
(tests/fixtures/scenarios) plus rows of its own in later months, among them two hostile identifiers (a user
id holding markup that becomes the largest person's customer id, and one that becomes a quarantined hub),
builds with ``idstitch run``, appends a row and runs again (a second closure run), then writes the report —
by default and with ``--show-identifiers``. The tests read the HTML tables under the charts and compare every
number with the warehouse, counted independently in Python from the facts' rows; check that the default page
holds no user id, e-mail or other identifier value of the warehouse and --show-identifiers brings them back;
that the page loads nothing and escapes every value; that empty data (no refused link, one run) reads "None"
instead of a broken chart; that bad input exits 2 with one line; and, in a real headless Chromium, that the
page renders its charts (DOM dump and screenshot).
"""

from __future__ import annotations

import datetime as dt
import html
import re
import shutil
import struct
import subprocess
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from helpers.warehouse import Warehouse
from test_cli import VARS_JSON, Result, _closed_port, assert_one_line_error, cli, cli_process
from test_scenarios import combined_csvs

HOSTILE_PERSON = "<script>alert(\"person\")</script>&'x'"  # a user id: the largest person's customer id
HOSTILE_HUB = "<img src=x onerror=alert(1)>"  # a user id on 12 devices: a quarantined hub (limit 10)
FACTS = ("fct_tracks", "fct_pages", "fct_identifies")


def _track(message_id: str, anonymous_id: str, user_id: str | None, when: str) -> dict[str, str | None]:
    return {"id": message_id, "anonymous_id": anonymous_id, "user_id": user_id, "event": "Viewed",
            "timestamp": when, "received_at": when}


REPORT_ROWS = {
    "tracks": [
        *(_track(f"rep_p{i}", f"rep_anon_p{i}", HOSTILE_PERSON, f"2024-05-0{i + 1} 10:00:00") for i in range(8)),
        *(_track(f"rep_h{i}", f"rep_anon_h{i}", HOSTILE_HUB, f"2024-06-{i + 10} 10:00:00") for i in range(12)),
        _track("rep_a1", "rep_anon_a", None, "2024-04-02 10:00:00"),
    ],
}
LATE_ROWS = {"tracks": [_track("rep_late", "rep_anon_late", None, "2024-07-01 10:00:00")]}


# ---------------------------------------------------------------------------------------------- reading the page


class _Page(HTMLParser):
    """The page's tables (by id: header, body rows, footer as cell texts), headline figures and tags seen."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, dict[str, list[list[str]]]] = {}
        self.headline: dict[str, str] = {}
        self.tags: Counter[str] = Counter()
        self.attributes: list[tuple[str, str, str]] = []  # (tag, name, value)
        self.style = ""
        self._table: str | None = None
        self._part = "body"
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._headline: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self.attributes += [(tag, name, value or "") for name, value in attrs]
        attr = dict(attrs)
        if tag == "table":
            self._table = attr.get("id") or f"table{len(self.tables)}"
            self.tables[self._table] = {"head": [], "body": [], "foot": []}
        elif tag in ("thead", "tbody", "tfoot"):
            self._part = {"thead": "head", "tbody": "body", "tfoot": "foot"}[tag]
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "dd" and (attr.get("id") or "").startswith("headline-"):
            self._headline, self._text = str(attr["id"])[len("headline-"):], []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.tables[self._table][self._part].append(self._row)
            self._row = None
        elif tag == "table":
            self._table, self._part = None, "body"
        elif tag == "dd" and self._headline is not None:
            self.headline[self._headline] = "".join(self._text).strip()
            self._headline = None

    def handle_data(self, data: str) -> None:
        if self.lasttag == "style":
            self.style += data
        if self._cell is not None:
            self._cell.append(data)
        if self._headline is not None:
            self._text.append(data)


def parse(page: str) -> _Page:
    parsed = _Page()
    parsed.feed(page)
    parsed.close()
    return parsed


def number(text: str) -> int:
    return int(text.replace(",", ""))


def rows_of(page: _Page, table_id: str) -> dict[str, list[str]]:
    """A table's body rows keyed by their first cell."""
    return {row[0]: row[1:] for row in page.tables[table_id]["body"]}


def column(page: _Page, table_id: str, name: str) -> dict[str, int]:
    header = page.tables[table_id]["head"][0]
    i = header.index(name)
    return {row[0]: number(row[i]) for row in page.tables[table_id]["body"]}


def assert_self_contained(page: str) -> None:
    """Nothing that loads or runs: no such element, no attribute pointing elsewhere, no CSS fetching."""
    parsed = parse(page)
    for tag in ("script", "link", "img", "iframe", "object", "embed", "image", "use", "foreignobject"):
        assert parsed.tags[tag] == 0, tag
    for tag, name, value in parsed.attributes:
        assert name not in ("src", "href", "xlink:href", "srcset", "action") and not name.startswith("on"), (tag, name)
        assert "http:" not in value and "https:" not in value, (tag, name, value)
    assert parsed.style and "url(" not in parsed.style and "@import" not in parsed.style


# ---------------------------------------------------------------------------------------------- the build


@dataclass
class Reported:
    wh: Warehouse
    result: Result
    out: Path
    page: str
    parsed: _Page


def report(wh: Warehouse, out: Path, *extra: str) -> Result:
    return cli("report", "--out", str(out), *extra, wh=wh)


def written(wh: Warehouse, out: Path, *extra: str) -> Reported:
    result = report(wh, out, *extra)
    assert result.code == 0, result
    page = (out / "index.html").read_text(encoding="utf-8")
    return Reported(wh, result, out, page, parse(page))


@pytest.fixture(scope="module")
def reported(module_warehouse: Warehouse, tmp_path_factory: pytest.TempPathFactory) -> Reported:
    wh = module_warehouse
    wh.load_tables("segment", combined_csvs(tmp_path_factory.mktemp("report-scenarios")))
    wh.load_tables("segment", REPORT_ROWS, append=True)
    first = cli("run", "--vars", VARS_JSON, wh=wh)
    assert first.code == 0, first
    wh.load_tables("segment", LATE_ROWS, append=True)
    second = cli("run", "--vars", VARS_JSON, wh=wh)
    assert second.code == 0, second
    return written(wh, tmp_path_factory.mktemp(f"report-{wh.target}") / "nested" / "report")


@pytest.fixture(scope="module")
def shown(reported: Reported, tmp_path_factory: pytest.TempPathFactory) -> Reported:
    """The same warehouse reported with --show-identifiers: customer ids and quarantined values on the page."""
    return written(reported.wh, tmp_path_factory.mktemp(f"report-shown-{reported.wh.target}"), "--show-identifiers")


def identifier_values(wh: Warehouse) -> set[str]:
    """Every user id, e-mail and customer id (a user id, e-mail or anonymous id) the warehouse holds, quarantined
    identifiers included."""
    kinds = "('user_id', 'email')"
    refusals = wh.relation("identity_refusals")
    return {str(v) for (v,) in wh.query(
        f"select identifier from {wh.relation('person_identifiers')} where identifier_type in {kinds} "
        f"union select customer_id from {wh.relation('dim_person')} "
        f"union select identifier_a from {refusals} where identifier_type_a in {kinds} "
        f"union select identifier_b from {refusals} where identifier_type_b in {kinds}") if v is not None}


def occurring(page: str, values: set[str]) -> set[str]:
    """The values found in the page, as text or HTML-escaped, whole or cut to a cell's 40 characters."""
    def forms(value: str) -> set[str]:
        return {value, value[:40], html.escape(value, quote=True), html.escape(value[:40], quote=True)}
    return {v for v in values if any(form in page for form in forms(v))}


def fact_rows(wh: Warehouse) -> list[tuple[object, ...]]:
    """Every event (event_at, attribution_method, person_id, user_id, anonymous_id): the test data is small."""
    rows: list[tuple[object, ...]] = []
    for fact in FACTS:
        if wh.table_exists(fact):
            rows += wh.query(f"select event_at, attribution_method, person_id, user_id, anonymous_id "
                             f"from {wh.relation(fact)}")
    return rows


def month_of(value: object) -> str:
    return f"{value.year:04d}-{value.month:02d}"  # type: ignore[attr-defined]


def shown_months(rows: list[tuple[object, ...]]) -> set[str]:
    """The months the report charts: up to the current month (events "in the future" are left out),
    the latest 36 of them."""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m")
    months = sorted({month_of(r[0]) for r in rows if r[0] is not None and month_of(r[0]) <= now})
    if not months:
        return set()
    last_year, last_month = map(int, months[-1].split("-"))
    window = {f"{(last_year * 12 + last_month - 1 - k) // 12:04d}-{(last_year * 12 + last_month - 1 - k) % 12 + 1:02d}"
              for k in range(36)}
    return set(months) & window


def scalar(wh: Warehouse, sql: str) -> int:
    return int(wh.query(sql)[0][0])


# ---------------------------------------------------------------------------------------------- the figures


def test_report_is_written_and_its_path_printed(reported: Reported) -> None:
    result, wh = reported.result, reported.wh
    assert result.err == ""
    lines = result.out.splitlines()
    assert lines[0].startswith(f"idstitch report · target {wh.target} (") and f"schema {wh.schema}" in lines[0]
    assert lines[1].startswith(f"wrote {reported.out / 'index.html'} (")
    persons = scalar(wh, f"select count(*) from {wh.relation('dim_person')}")
    assert f"{persons:,} persons" in lines[1] and "2 runs" in lines[1]
    assert [p.name for p in reported.out.iterdir()] == ["index.html"]  # no partial file left behind
    assert reported.parsed.tags["svg"] == 5  # identifiers, attribution, tracked users, refusals, closure
    for title in ("Persons by number of identifiers", "Events per month by attribution method",
                  "Monthly tracked users, before and after stitching", "Refused links by reason",
                  "Closure rounds per run", "Largest persons", "Quarantined identifiers"):
        assert f"<h2>{title}" in reported.page, title


def test_headline_matches_the_warehouse(reported: Reported) -> None:
    wh, headline = reported.wh, reported.parsed.headline
    dim = wh.relation("dim_person")
    persons = scalar(wh, f"select count(*) from {dim}")
    identified = scalar(wh, f"select count(*) from {dim} where is_identified")
    events = len(fact_rows(wh))
    refused = scalar(wh, f"select count(*) from {wh.relation('identity_refusals')} where refusal_kind = 'link'")
    assert number(headline["persons"]) == persons
    assert headline["identified-share"] == f"{100 * identified / persons:.1f} %"
    assert number(headline["events"]) == events == scalar(wh, f"select sum(n_events) from {dim}")
    assert number(headline["refused-links"]) == refused > 0
    assert f"target <b>{wh.target}</b>" in reported.page and f"schema <b>{wh.schema}</b>" in reported.page


def test_persons_by_number_of_identifiers(reported: Reported) -> None:
    wh, page = reported.wh, reported.parsed
    sizes = Counter(n for (n,) in wh.query(
        f"select count(i.person_id) from {wh.relation('dim_person')} as p "
        f"left join {wh.relation('person_identifiers')} as i on i.person_id = p.person_id group by p.person_id"))
    persons = column(page, "table-identifiers", "persons")
    assert sum(persons.values()) == sum(sizes.values())
    assert sum(sizes.values()) == scalar(wh, f"select count(*) from {wh.relation('dim_person')}")
    assert number(page.tables["table-identifiers"]["foot"][0][1]) == sum(sizes.values())
    for bucket in ("1", "2", "3", "4", "5"):
        assert persons.get(bucket, 0) == sizes.get(int(bucket), 0), bucket
    assert persons["6–10"] == sum(n for size, n in sizes.items() if 6 <= size <= 10)
    assert max(sizes) == 9 and persons["6–10"] >= 2  # scenario 06's person (8) and the hostile one (9)


def test_attribution_method_per_month(reported: Reported) -> None:
    expected: dict[str, Counter[str]] = defaultdict(Counter)
    rows = fact_rows(reported.wh)
    shown = shown_months(rows)
    assert {month_of(r[0]) for r in rows if r[0] is not None} - shown, "the data has events outside the chart"
    for event_at, method, *_ in rows:
        if event_at is not None and month_of(event_at) in shown:
            expected[month_of(event_at)][str(method)] += 1
    assert set(expected) == {"2024-03", "2024-04", "2024-05", "2024-06", "2024-07"}
    page = reported.parsed
    header = page.tables["table-attribution"]["head"][0]
    methods = header[1:-1]
    assert set(methods) == {m for per in expected.values() for m in per}
    table = rows_of(page, "table-attribution")
    assert len(table) == 36  # the 1970 events stretch the range to the full window; empty months show 0
    assert [month for month, cells in table.items() if number(cells[-1])] == sorted(expected)
    for month, cells in table.items():
        if month not in expected:
            assert {number(v) for v in cells} == {0}, month
            continue
        got = {m: number(v) for m, v in zip(methods, cells[:-1], strict=True)}
        assert got == {m: expected[month][m] for m in methods}, month
        assert number(cells[-1]) == sum(expected[month].values())
    assert number(page.tables["table-attribution"]["foot"][0][-1]) == sum(sum(c.values()) for c in expected.values())
    # the far past and the future are said to be off the chart
    assert "are left out" in (reported.out / "index.html").read_text(encoding="utf-8")
    assert expected["2024-06"]["anonymous"] == 12  # the hub's devices: its user id joins nobody


def test_monthly_tracked_users_before_and_after_stitching(reported: Reported) -> None:
    raw: dict[str, set[str]] = defaultdict(set)
    persons: dict[str, set[str]] = defaultdict(set)
    rows = fact_rows(reported.wh)
    shown = shown_months(rows)
    for event_at, _, person_id, user_id, anonymous_id in rows:
        if event_at is None or month_of(event_at) not in shown:
            continue
        month = month_of(event_at)
        persons[month].add(str(person_id))
        if user_id is not None:
            raw[month].add(f"user_id:{user_id}")
        elif anonymous_id is not None:
            raw[month].add(f"anonymous_id:{anonymous_id}")
    page = reported.parsed
    before = column(page, "table-tracked", "before: raw ids")
    after = column(page, "table-tracked", "after: persons")
    assert {m: n for m, n in before.items() if n} == {m: len(ids) for m, ids in raw.items()}
    assert {m: n for m, n in after.items() if n} == {m: len(p) for m, p in persons.items()}
    assert before["2024-05"] == 1 and after["2024-05"] == 1  # eight devices, one user id, one person
    assert before["2024-03"] > after["2024-03"]  # stitching joins devices to their users


def test_refused_links_by_reason(reported: Reported) -> None:
    wh, page = reported.wh, reported.parsed
    counts = {(kind, reason): n for kind, reason, n in wh.query(
        f"select refusal_kind, reason, count(*) from {wh.relation('identity_refusals')} group by refusal_kind, reason")}
    links = column(page, "table-refusals", "refused links")
    quarantined = column(page, "table-refusals", "quarantined identifiers")
    for reason in set(links) | {r for _, r in counts}:
        assert links.get(reason, 0) == counts.get(("link", reason), 0), reason
        assert quarantined.get(reason, 0) == counts.get(("identifier", reason), 0), reason
    assert links["hub_identifier"] > 0 and quarantined["hub_identifier"] >= 2  # scenario 11's and ours
    foot = page.tables["table-refusals"]["foot"][0]
    assert number(foot[1]) == sum(n for (kind, _), n in counts.items() if kind == "link")


def test_closure_rounds_per_run(reported: Reported) -> None:
    wh, page = reported.wh, reported.parsed
    stored = wh.query(f"select invocation_id, closure_name, rounds from {wh.relation('closure_runs')}")
    header = page.tables["table-closure"]["head"][0]
    body = page.tables["table-closure"]["body"]
    assert len(body) == len({r[0] for r in stored}) == 2
    shown = {(row[1], name): number(row[header.index(name)]) for row in body for name in header[2:-1]}
    assert shown == {(str(i), str(name)): int(rounds) for i, name, rounds in stored}
    assert all(row[-1] == "yes" for row in body)


def _largest_person(wh: Warehouse) -> str:
    return str(wh.query(f"select person_id, count(*) from {wh.relation('person_identifiers')} "
                        "group by person_id order by count(*) desc, person_id limit 1")[0][0])


def test_largest_persons_and_quarantined_identifiers(reported: Reported) -> None:
    wh, page = reported.wh, reported.parsed
    assert page.tables["table-largest"]["head"][0] == [
        "person id", "identified", "identifiers", "user ids", "anonymous ids", "e-mails", "events"]
    largest = page.tables["table-largest"]["body"]
    top = _largest_person(wh)
    assert largest[0][0] == f"{top[:12]}…" and number(largest[0][2]) == 9  # the person id, shortened
    assert f'title="{top}"' in reported.page  # the whole id as the cell's tooltip
    assert page.tables["table-quarantined"]["head"][0] == ["type", "reason", "messages", "first seen"]
    quarantined = page.tables["table-quarantined"]["body"]
    assert ["user_id", "hub_identifier"] in [row[:2] for row in quarantined]
    assert len(quarantined) == scalar(
        wh, f"select count(*) from {wh.relation('identity_refusals')} where refusal_kind = 'identifier'")


def test_show_identifiers_adds_customer_ids_and_quarantined_values(reported: Reported, shown: Reported) -> None:
    wh, page = shown.wh, shown.parsed
    assert page.tables["table-largest"]["head"][0][:2] == ["customer id", "person id"]
    largest = page.tables["table-largest"]["body"]
    assert largest[0][0] == HOSTILE_PERSON and number(largest[0][3]) == 9  # markup shown as text
    assert largest[0][1] == f"{_largest_person(wh)[:12]}…"
    quarantined = {(row[0], row[1]): row[2] for row in page.tables["table-quarantined"]["body"]}
    assert quarantined[("user_id", HOSTILE_HUB)] == "hub_identifier"
    assert len(quarantined) == scalar(
        wh, f"select count(*) from {wh.relation('identity_refusals')} where refusal_kind = 'identifier'")
    assert [row[1:] for row in largest] == reported.parsed.tables["table-largest"]["body"]
    assert [row[:1] + row[2:] for row in page.tables["table-quarantined"]["body"]] == (
        reported.parsed.tables["table-quarantined"]["body"])
    # everything else is the same page
    for table in ("table-identifiers", "table-attribution", "table-tracked", "table-refusals", "table-closure"):
        assert page.tables[table] == reported.parsed.tables[table], table
    assert page.headline == reported.parsed.headline
    assert shown.result.out.splitlines()[1].startswith(f"wrote {shown.out / 'index.html'} (")


def test_default_page_holds_no_identifier_value(reported: Reported, shown: Reported) -> None:
    values = identifier_values(reported.wh)
    assert len(values) > 20 and HOSTILE_PERSON in values and HOSTILE_HUB in values
    assert any("@" in v for v in values)  # e-mails among them
    assert occurring(reported.page, values) == set()
    assert occurring(reported.result.out + reported.result.err, values) == set()  # nor on the terminal
    assert "Identifier values hidden" in reported.page and "--show-identifiers" in reported.page
    assert "identifier values hidden; run with --show-identifiers to include them" in reported.page
    assert "Contains identifier values" not in reported.page

    on_page = occurring(shown.page, values)
    assert {HOSTILE_PERSON, HOSTILE_HUB} <= on_page  # the largest person's customer id, the quarantined hub
    assert "Contains identifier values" in shown.page and "idstitch__personal_columns" in shown.page
    assert "Identifier values hidden" not in shown.page


def test_page_is_self_contained_and_escapes_every_value(reported: Reported, shown: Reported) -> None:
    for written_page in (reported, shown):
        page = written_page.page
        assert_self_contained(page)
        assert "Content-Security-Policy" in page and "default-src 'none'" in page
        for hostile in (HOSTILE_PERSON, HOSTILE_HUB):
            assert hostile not in page
        assert written_page.parsed.tags["script"] == 0 and written_page.parsed.tags["img"] == 0
    for hostile in (HOSTILE_PERSON, HOSTILE_HUB):
        assert html.escape(hostile, quote=True) in shown.page


# ---------------------------------------------------------------------------------------------- in a browser


def _chromium() -> str | None:
    return next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)


def _png(path: Path, max_rows: int) -> tuple[int, int, list[bytes]]:
    """Width, height and the first ``max_rows`` rows (RGB(A), 8 bits) of a PNG, decoded in pure Python."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, []
    width = height = depth = color = 0
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    assert depth == 8 and color in (2, 6), (depth, color)
    bpp = 3 if color == 2 else 4
    stride = width * bpp
    raw = zlib.decompressobj().decompress(b"".join(idat), (stride + 1) * min(height, max_rows))
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(min(height, max_rows)):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
        elif kind == 3:
            for i in range(stride):
                line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def test_report_renders_in_headless_chromium(reported: Reported, shown: Reported, tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium on PATH: scripts/ensure_chromium.sh installs it (make test runs it)")
    url = (reported.out / "index.html").resolve().as_uri()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={tmp_path / 'profile'}"]

    def dom_of(page: Reported) -> _Page:
        dom = subprocess.run([browser, *flags, "--dump-dom", (page.out / "index.html").resolve().as_uri()],
                             capture_output=True, text=True, timeout=120, check=False)
        assert dom.returncode == 0, dom.stderr[-2000:]
        return parse(dom.stdout)

    rendered = dom_of(reported)
    assert rendered.tags["svg"] == 5 and rendered.tags["rect"] > 20 and rendered.tags["polyline"] == 2
    assert rendered.tags["script"] == 0 and rendered.tables.keys() == reported.parsed.tables.keys()
    assert rendered.tables["table-largest"]["body"] == reported.parsed.tables["table-largest"]["body"]
    hostile = dom_of(shown)
    assert hostile.tags["script"] == 0 and hostile.tags["img"] == 0
    assert hostile.tables["table-largest"]["body"][0][0] == HOSTILE_PERSON  # text, not markup, in the DOM
    assert ["user_id", HOSTILE_HUB] in [row[:2] for row in hostile.tables["table-quarantined"]["body"]]

    shot = tmp_path / "report.png"
    taken = subprocess.run([browser, *flags, f"--screenshot={shot}", "--window-size=1200,3000", url],
                           capture_output=True, text=True, timeout=120, check=False)
    assert taken.returncode == 0 and shot.is_file(), taken.stderr[-2000:]
    assert shot.stat().st_size > 30_000  # a blank page compresses to a few kilobytes
    width, height, rows = _png(shot, max_rows=900)  # the header and the first chart
    assert (width, height) == (1200, 3000)
    step = len(rows[0]) // width
    pixels = Counter(row[i:i + 3] for row in rows for i in range(0, len(row), step))
    background = pixels.most_common(1)[0][1]
    assert background < 0.9 * sum(pixels.values()), "the page is (nearly) one colour"
    assert len(pixels) > 50, "no text or antialiasing: nothing rendered"
    bars = bytes.fromhex("0072B2")  # the first chart's bars
    assert pixels[bars] > 2000, "the bar chart is not drawn"


# ---------------------------------------------------------------------------------------------- empty data


def test_little_data_reads_none_instead_of_a_broken_chart(duckdb_warehouse: Warehouse, tmp_path: Path) -> None:
    wh = duckdb_warehouse
    wh.load_tables("segment", {"tracks": [_track("m1", "a1", None, "2024-01-01 10:00:00")],
                               "pages": [], "identifies": [], "aliases": []})
    built = cli("run", wh=wh)
    assert built.code == 0, built
    result = report(wh, tmp_path / "out")
    assert result.code == 0, result
    page = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    parsed = parse(page)
    assert "None: no link was refused." in page and "None: no identifier is quarantined." in page
    assert parsed.tags["svg"] == 4  # no refusals chart
    assert number(parsed.tables["table-refusals"]["foot"][0][1]) == 0
    assert len(parsed.tables["table-closure"]["body"]) == 1  # a single run: one group of bars
    assert column(parsed, "table-identifiers", "persons") == {"1": 1}
    assert column(parsed, "table-tracked", "before: raw ids") == {"2024-01": 1}
    assert parsed.headline["refused-links"] == "0"
    assert_self_contained(page)


# ---------------------------------------------------------------------------------------------- bad input


def test_bad_out_exits_2_before_touching_the_database(reported: Reported, tmp_path: Path) -> None:
    wh = reported.wh
    a_file = tmp_path / "report.html"
    a_file.write_text("not a directory")
    assert_one_line_error(report(wh, a_file), f"--out {a_file} is a file, not a directory")
    assert_one_line_error(report(wh, a_file / "sub"), f"--out {a_file / 'sub'}: {a_file} is not a directory")
    blocked = tmp_path / "blocked"
    (blocked / "index.html").mkdir(parents=True)  # the report's own file cannot be written
    result = report(wh, blocked)
    assert_one_line_error(result, f"cannot write the report to {blocked / 'index.html'}")
    assert sorted(p.name for p in blocked.iterdir()) == ["index.html"]
    assert result.out.startswith("idstitch report · target")


def test_missing_database_or_tables_exit_2(duckdb_warehouse: Warehouse, tmp_path: Path) -> None:
    wh = duckdb_warehouse
    out = tmp_path / "out"
    assert_one_line_error(report(wh, out), "no DuckDB database at", "run `idstitch run` first")
    wh.load_tables("segment", {"tracks": [_track("m1", "a1", None, "2024-01-01 10:00:00")]})
    assert_one_line_error(report(wh, out), "main.dim_person", "not found", "run `idstitch run`")
    assert not out.exists()
    process = cli_process("report", "--out", str(out), wh=wh)  # a real process: exit code and no traceback
    assert_one_line_error(process, "idstitch report: error:", "not found")


def test_unreachable_database_and_missing_profile_exit_2(tmp_path: Path) -> None:
    port = _closed_port()
    (tmp_path / "profiles.yml").write_text(
        '{"idstitch": {"target": "prod", "outputs": {"prod": {"type": "postgres", "host": "127.0.0.1", '
        f'"port": {port}, "user": "nobody", "password": "", "dbname": "analytics", "schema": "analytics", '
        '"threads": 1, "connect_timeout": 5}}}}')
    where = ["--target-path", str(tmp_path / "target"), "--out", str(tmp_path / "out")]
    result = cli("report", "--profiles-dir", str(tmp_path), *where, env={"DBT_LOG_PATH": str(tmp_path / "logs")})
    assert_one_line_error(result, f"cannot connect to postgres nobody@127.0.0.1:{port}/analytics")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(cli("report", "--profiles-dir", str(empty), *where), f"no profiles.yml in {empty}")
    wrong = cli("report", "--target", "nope", *where, env={"DBT_PROFILES_DIR": str(tmp_path)})
    assert_one_line_error(wrong, "does not have a target named 'nope'")
    no_project = cli("report", "--project-dir", str(empty), "--profiles-dir", str(tmp_path), *where)
    assert_one_line_error(no_project, f"no dbt_project.yml in {empty}")
    assert not (tmp_path / "out").exists()


def test_profiles_dir_from_the_environment(reported: Reported, tmp_path: Path) -> None:
    wh = reported.wh
    result = cli("report", "--out", str(tmp_path / "r"), "--target-path", str(wh.target_path),
                 env={"DBT_PROFILES_DIR": str(wh.profiles_dir), "DBT_LOG_PATH": str(wh.log_path)})
    assert result.code == 0, result
    assert (tmp_path / "r" / "index.html").is_file()


def test_help_reads_like_the_readme() -> None:
    result = cli("report", "--help")
    assert result.code == 0 and result.err == ""
    for fragment in ("--out DIR", "index.html", "self-contained", "inline SVG", "before stitching", "closure_runs",
                     "examples:", "idstitch report", "exit codes:", "--profiles-dir", "--project-dir", "--target",
                     "DBT_PROFILES_DIR", "--show-identifiers", "user ids and", "idstitch__personal_columns"):
        assert fragment in result.out, fragment
    assert re.search(r"report\s+a self-contained HTML page", cli("--help").out)
