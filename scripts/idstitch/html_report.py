"""``idstitch report``: one self-contained HTML page showing what the identity graph looks like.

Everything is counted in the warehouse (GROUP BY over the published tables, the same SQL on DuckDB and
Postgres): no event row comes back to Python, only one row per month, method, reason, run or bucket. The
charts are drawn as inline SVG (:mod:`idstitch.svgchart`); the page has no script, loads nothing from
anywhere (a Content-Security-Policy says so to the browser too) and can be mailed, attached to a ticket or
opened offline. Each chart has a table of its numbers beneath it. Every value from the data is escaped.

Sections: persons by number of identifiers; events per month by attribution method; monthly tracked users
before stitching (distinct raw ids: an event's user id, else its anonymous id) and after (distinct persons);
refused links by reason; closure rounds per run; the largest persons; quarantined identifiers.

The page is meant to be passed around, so by default it holds no identifier value: the largest persons are
named by their person id, quarantined identifiers by type and reason only, and those values are not even
read from the warehouse. ``show_identifiers`` (``--show-identifiers``) adds the persons' customer ids and the
quarantined values — user ids and e-mails.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__, report, textfmt
from .db import Database, Relations, utc_now
from .errors import IdstitchError, one_line
from .svgchart import PALETTE, Series, bar_chart, esc, hbar_chart, line_chart

REPORT_TABLES = ("dim_person", "person_identifiers", "identity_refusals", "closure_runs", "fct_tracks",
                 "fct_identifies")
FACT_TABLES = ("fct_tracks", "fct_pages", "fct_identifies")  # fct_pages only when pages are switched on
MAX_MONTHS = 36  # monthly charts: the latest 36 calendar months up to the newest event
MAX_RUNS = 30  # closure chart: the latest 30 runs
TOP = 10  # largest persons, quarantined identifiers listed
INDEX = "index.html"

# identifier-count buckets: (label, lowest, highest)
BUCKETS = (("0", 0, 0), ("1", 1, 1), ("2", 2, 2), ("3", 3, 3), ("4", 4, 4), ("5", 5, 5), ("6–10", 6, 10),
           ("11–20", 11, 20), ("21–50", 21, 50), ("51–100", 51, 100), ("101–200", 101, 200),
           ("201+", 201, None))
METHOD_ORDER = ("user_id", "shared_device_session", "shared_device", "device", "email", "anonymous",
                "unattributable")
METHOD_COLORS = {"user_id": PALETTE[0], "shared_device_session": PALETTE[5], "shared_device": PALETTE[4],
                 "device": PALETTE[2], "email": PALETTE[6], "anonymous": PALETTE[1], "unattributable": PALETTE[7]}
METHOD_NOTES = {
    "user_id": "the event carries a user id",
    "shared_device_session": "a shared device's session in which someone logged in",
    "shared_device": "a shared device's session where nobody logged in",
    "device": "an anonymous id of an identified person",
    "anonymous": "an anonymous id no user id ever joined",
    "unattributable": "every id was junk or quarantined: a person of its own",
}

Month = tuple[int, int]


@dataclass
class ReportData:
    target: str
    where: str  # the connection, e.g. "duckdb /path/idstitch.duckdb"
    schema: str
    generated_at: dt.datetime
    latest_run: dict[str, Any] | None
    counts: dict[str, int]  # persons, identified_persons, events, identified_events
    refusals: dict[str, dict[str, int]]  # {"link": {reason: n}, "identifier": {reason: n}}
    facts: list[str]
    identifier_sizes: dict[int, int]  # identifiers per person -> persons
    attribution: dict[Month, dict[str, int]]  # month -> method -> events
    undated_events: int
    tracked: dict[Month, tuple[int, int]]  # month -> (distinct raw ids, distinct persons)
    runs: list[dict[str, Any]]  # latest closure runs, oldest first: invocation_id, started, closures{name: row}
    total_runs: int
    largest: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    show_identifiers: bool = False  # customer ids and quarantined values on the page (user ids, e-mails)


# ---------------------------------------------------------------------------------------------- reading


def _month(value: Any) -> Month | None:
    if value is None:
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return (value.year, value.month)
    text = str(value)
    return (int(text[:4]), int(text[5:7]))


def _events(rels: Relations, facts: Sequence[str], columns: str) -> str:
    return " union all ".join(f"select {columns} from {rels[f]}" for f in facts)


def collect(db: Database, rels: Relations, target: str, where: str, *, show_identifiers: bool = False) -> ReportData:
    """Every figure of the report, aggregated in the warehouse. Identifier values (customer ids, quarantined
    identifiers) are read only with ``show_identifiers``."""
    db.require(rels, REPORT_TABLES)
    present = db.existing(rels[f] for f in FACT_TABLES if f in rels)
    facts = [f for f in FACT_TABLES if f in rels and rels[f] in present]

    sizes = {
        int(r["n_identifiers"]): int(r["persons"])
        for r in db.query(
            "select n_identifiers, count(*) as persons from ("
            " select persons.person_id, count(identifiers.person_id) as n_identifiers"
            f" from {rels['dim_person']} as persons"
            f" left join {rels['person_identifiers']} as identifiers on identifiers.person_id = persons.person_id"
            " group by persons.person_id"
            ") as sizes group by n_identifiers"
        )
    }

    month = "date_trunc('month', event_at)"
    attribution: dict[Month, dict[str, int]] = {}
    undated = 0
    for r in db.query(
        f"select {month} as month, attribution_method, count(*) as events "
        f"from ({_events(rels, facts, 'event_at, attribution_method')}) as events "
        f"group by {month}, attribution_method"
    ):
        key = _month(r["month"])
        if key is None:
            undated += int(r["events"])
        else:
            attribution.setdefault(key, {})[str(r["attribution_method"])] = int(r["events"])

    raw_id = ("case when user_id is not null then 'user_id:' || user_id "
              "when anonymous_id is not null then 'anonymous_id:' || anonymous_id end")
    tracked: dict[Month, tuple[int, int]] = {}
    for r in db.query(
        f"select {month} as month, count(distinct {raw_id}) as raw_ids, count(distinct person_id) as persons "
        f"from ({_events(rels, facts, 'event_at, user_id, anonymous_id, person_id')}) as events "
        f"where event_at is not null group by {month}"
    ):
        key = _month(r["month"])
        if key is not None:
            tracked[key] = (int(r["raw_ids"]), int(r["persons"]))

    closure = rels["closure_runs"]
    total_runs = int(db.query(f"select count(distinct invocation_id) as n from {closure}")[0]["n"])
    runs: dict[str, dict[str, Any]] = {}
    for r in db.query(
        "select runs.invocation_id, runs.run_started_at, runs.closure_name, runs.rounds, runs.converged "
        f"from {closure} as runs join ("
        f" select invocation_id, max(run_started_at) as started from {closure}"
        f" group by invocation_id order by max(run_started_at) desc, invocation_id desc limit {MAX_RUNS}"
        ") as latest on latest.invocation_id = runs.invocation_id "
        "order by latest.started, runs.invocation_id, runs.closure_name desc"
    ):
        run = runs.setdefault(str(r["invocation_id"]), {"invocation_id": str(r["invocation_id"]),
                                                        "started": r["run_started_at"], "closures": {}})
        run["closures"][str(r["closure_name"])] = {"rounds": int(r["rounds"] or 0), "converged": bool(r["converged"])}

    # identifier values stay in the warehouse unless asked for: user ids and e-mails
    customer_id = "persons.customer_id, " if show_identifiers else ""
    identifier = "identifier_a as identifier, " if show_identifiers else ""
    largest = db.query(
        f"select persons.person_id, {customer_id}persons.is_identified, persons.n_user_ids, "
        "persons.n_anonymous_ids, persons.n_emails, persons.n_events, sizes.n_identifiers "
        f"from {rels['dim_person']} as persons join ("
        f" select person_id, count(*) as n_identifiers from {rels['person_identifiers']} group by person_id"
        ") as sizes on sizes.person_id = persons.person_id "
        f"order by sizes.n_identifiers desc, persons.n_events desc, persons.person_id limit {TOP}"
    )
    quarantined = db.query(
        f"select identifier_type_a as identifier_type, {identifier}reason, n_messages, first_seen_at "
        f"from {rels['identity_refusals']} where refusal_kind = 'identifier' "
        f"order by n_messages desc, identifier_type_a, identifier_a limit {TOP}"
    )
    return ReportData(
        target=target, where=where, schema=rels["dim_person"].schema, generated_at=utc_now(),
        latest_run=report.latest_invocation(db, rels), counts=report.person_counts(db, rels),
        refusals=report.refusal_counts(db, rels), facts=facts, identifier_sizes=sizes, attribution=attribution,
        undated_events=undated, tracked=tracked, runs=list(runs.values()), total_runs=total_runs,
        largest=largest, quarantined=quarantined, show_identifiers=show_identifiers,
    )


# ---------------------------------------------------------------------------------------------- shaping


def identifier_buckets(sizes: Mapping[int, int]) -> list[tuple[str, int]]:
    """Persons per bucket of identifier counts, from the first non-empty bucket to the last."""
    counts = [(label, sum(n for size, n in sizes.items() if size >= low and (high is None or size <= high)))
              for label, low, high in BUCKETS]
    filled = [i for i, (_, n) in enumerate(counts) if n]
    return counts[filled[0]:filled[-1] + 1] if filled else []


def month_range(months: Sequence[Month], latest: Month | None = None) -> list[Month]:
    """Every calendar month up to the newest of ``months``, at most MAX_MONTHS, from the oldest.

    ``latest`` (the month the report is generated in) caps the range: one event stamped in 2999 by a
    client with a wrong clock must not push every real month off the chart."""
    if latest is not None:
        months = [m for m in months if m <= latest]
    if not months:
        return []
    first, last = min(months), max(months)
    out: list[Month] = []
    year, month = last
    while (year, month) >= first and len(out) < MAX_MONTHS:
        out.append((year, month))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def _report_month(data: ReportData) -> Month:
    return (data.generated_at.year, data.generated_at.month)


def month_label(month: Month) -> str:
    return f"{month[0]:04d}-{month[1]:02d}"


def methods_of(attribution: Mapping[Month, Mapping[str, int]]) -> list[str]:
    seen = {m for per_month in attribution.values() for m in per_month}
    return [m for m in METHOD_ORDER if m in seen] + sorted(seen - set(METHOD_ORDER))


# ---------------------------------------------------------------------------------------------- rendering


def _num(value: Any) -> str:
    return textfmt.number(value)


def _table(table_id: str, caption: str, header: Sequence[str], rows: Sequence[Sequence[Any]],
           numeric: Sequence[int] = (), foot: Sequence[Any] | None = None) -> str:
    """An HTML table (scrolling sideways rather than overflowing its section); cells in ``numeric`` columns are
    right-aligned (class ``n``); a cell given as ``(text, full)`` shows ``text`` with ``full`` as its tooltip."""
    def cell(i: int, value: Any, tag: str) -> str:
        text, full = value if isinstance(value, tuple) else (value, None)
        attrs = (" class=n" if i in numeric else "") + (f' title="{esc(full)}"' if full is not None else "")
        return f"<{tag}{attrs}>{esc(text)}</{tag}>"

    def cells(row: Sequence[Any], tag: str) -> str:
        return "".join(cell(i, c, tag) for i, c in enumerate(row))

    body = "".join(f"<tr>{cells(r, 'td')}</tr>" for r in rows)
    tfoot = f"<tfoot><tr>{cells(foot, 'td')}</tr></tfoot>" if foot is not None else ""
    return (f'<div class="scroll"><table id="{esc(table_id)}"><caption>{esc(caption)}</caption>'
            f"<thead><tr>{cells(header, 'th')}</tr></thead><tbody>{body}</tbody>{tfoot}</table></div>")


def _clipped(value: Any, width: int = 40) -> tuple[str, str | None]:
    """A long identifier cut to ``width`` characters (``…``), the whole value kept as the cell's tooltip."""
    text = str(value)
    return (text, None) if len(text) <= width else (text[:width] + "…", text)


def _none(text: str) -> str:
    return f'<p class="none">{esc(text)}</p>'


def _section(section_id: str, title: str, note: str, content: str) -> str:
    return (f'<section id="{esc(section_id)}"><h2>{esc(title)}</h2><p class="note">{note}</p>'
            f"{content}</section>")


def _share(part: int, whole: int) -> str:
    return textfmt.share(part / whole if whole else None)


def _signed(n: int) -> str:
    return "0" if n == 0 else ("+" if n > 0 else "−") + f"{abs(n):,}"


def _signed_share(part: int, whole: int) -> str:
    if not whole:
        return "–"
    return "0.0 %" if part == 0 else ("+" if part > 0 else "−") + f"{100 * abs(part) / whole:,.1f} %"


def _identifiers_section(data: ReportData) -> str:
    buckets = identifier_buckets(data.identifier_sizes)
    persons = data.counts["persons"]
    note = ("How many identifiers (user ids, anonymous ids, e-mails and other identifier traits) each person "
            "holds. A long tail to the right is where over-merging shows first; "
            "<code>idstitch validate</code> limits the largest person. Persons with none are a shared device's "
            "sessions where nobody logged in, and events whose every id was junk or quarantined.")
    if not buckets:
        return _section("identifiers", "Persons by number of identifiers", note, _none("None: dim_person is empty."))
    chart = bar_chart(
        title="Persons by number of identifiers",
        desc=f"Bar chart of {persons:,} persons by how many identifiers they hold.",
        categories=[b for b, _ in buckets], series=[Series("persons", [n for _, n in buckets], PALETTE[0])],
        x_label="identifiers per person", y_label="persons",
    )
    table = _table("table-identifiers", "Persons by number of identifiers", ("identifiers", "persons", "share"),
                   [(b, _num(n), _share(n, persons)) for b, n in buckets], numeric=(1, 2),
                   foot=("all", _num(persons), _share(persons, persons)))
    return _section("identifiers", "Persons by number of identifiers", note, f"<figure>{chart}</figure>{table}")


def _months_note(data: ReportData, shown: Sequence[Month]) -> str:
    notes = []
    earlier = sum(n for m, per in data.attribution.items() if shown and m < shown[0] for n in per.values())
    if earlier:
        notes.append(f"{earlier:,} events before {month_label(shown[0])} are left out (the latest "
                     f"{MAX_MONTHS} months are shown).")
    now = _report_month(data)
    later = sum(n for m, per in data.attribution.items() if m > now for n in per.values())
    if later:
        notes.append(f"{later:,} events dated after {month_label(now)} (in the future when the report was "
                     "made: a client's clock) are left out.")
    if data.undated_events:
        notes.append(f"{data.undated_events:,} events without a timestamp are not in any month.")
    return (" " + " ".join(esc(n) for n in notes)) if notes else ""


def _attribution_section(data: ReportData) -> str:
    title = "Events per month by attribution method"
    shown = month_range(list(data.attribution), _report_month(data))
    methods = methods_of(data.attribution)
    tables = ", ".join(data.facts)
    note = (f"How each event ({esc(tables)}) found its person, per month of the event: "
            + "; ".join(f"<b>{esc(m)}</b> {esc(METHOD_NOTES[m])}" for m in methods if m in METHOD_NOTES)
            + "." + _months_note(data, shown))
    if not shown:
        return _section("attribution", title, note, _none("None: no events with a timestamp."))
    series = [Series(m, [data.attribution.get(month, {}).get(m, 0) for month in shown],
                     METHOD_COLORS.get(m, PALETTE[(5 + i) % len(PALETTE)])) for i, m in enumerate(methods)]
    chart = bar_chart(
        title=title, desc=f"Stacked bars of events per month from {month_label(shown[0])} to "
                          f"{month_label(shown[-1])}, one segment per attribution method.",
        categories=[month_label(m) for m in shown], series=series, stacked=True,
        x_label="month of the event", y_label="events", height=360,
    )
    rows = [(month_label(month), *(_num(data.attribution.get(month, {}).get(m, 0)) for m in methods),
             _num(sum(data.attribution.get(month, {}).values()))) for month in shown]
    foot = ("all", *(_num(sum(data.attribution.get(month, {}).get(m, 0) for month in shown)) for m in methods),
            _num(sum(sum(data.attribution.get(month, {}).values()) for month in shown)))
    table = _table("table-attribution", title, ("month", *methods, "events"), rows,
                   numeric=range(1, len(methods) + 2), foot=foot)
    return _section("attribution", title, note, f"<figure>{chart}</figure>{table}")


def _tracked_section(data: ReportData) -> str:
    title = "Monthly tracked users, before and after stitching"
    shown = month_range(list(data.tracked), _report_month(data))
    note = ("Distinct users with an event in the month. <b>Before stitching</b>: distinct raw ids, as a tool "
            "without identity resolution counts them (an event's user id, else its anonymous id). "
            "<b>After stitching</b>: distinct persons. After can exceed before where a guard refused a user id "
            "(a quarantined hub's devices stay apart) or a shared device's sessions belong to different persons.")
    if not shown:
        return _section("tracked", title, note, _none("None: no events with a timestamp."))
    before = [data.tracked.get(m, (0, 0))[0] for m in shown]
    after = [data.tracked.get(m, (0, 0))[1] for m in shown]
    chart = line_chart(
        title=title, desc="Two lines per month: distinct raw ids before stitching and distinct persons after.",
        categories=[month_label(m) for m in shown],
        series=[Series("before stitching: distinct raw ids", before, PALETTE[1]),
                Series("after stitching: distinct persons", after, PALETTE[0])],
        x_label="month of the event", y_label="tracked users",
    )
    rows = [(month_label(m), _num(b), _num(a), _signed(a - b), _signed_share(a - b, b))
            for m, b, a in zip(shown, before, after, strict=True)]
    table = _table("table-tracked", title, ("month", "before: raw ids", "after: persons", "change", "change %"),
                   rows, numeric=(1, 2, 3, 4))
    return _section("tracked", title, note, f"<figure>{chart}</figure>{table}")


def _refusals_section(data: ReportData) -> str:
    title = "Refused links by reason"
    links = data.refusals.get("link", {})
    idents = data.refusals.get("identifier", {})
    note = ("Links a guard refused, so they joined nobody (<code>identity_refusals</code>): a hub identifier "
            "(more links than <code>idstitch__max_links_per_identifier</code>), an identifier shared by "
            "several user ids, an ambiguous bridge, or a link joining different user ids. "
            "<code>idstitch explain ID</code> shows an identifier's refused links.")
    reasons = list(links) + [r for r in idents if r not in links]
    table = _table("table-refusals", title, ("reason", "refused links", "quarantined identifiers"),
                   [(r, _num(links.get(r, 0)), _num(idents.get(r, 0))) for r in reasons], numeric=(1, 2),
                   foot=("all", _num(sum(links.values())), _num(sum(idents.values()))))
    if not sum(links.values()):
        return _section("refusals", title, note, _none("None: no link was refused.") + table)
    chart = hbar_chart(title=title, desc="Horizontal bars: refused links per reason.",
                       categories=list(links), values=list(links.values()), x_label="refused links",
                       color=PALETTE[3])
    return _section("refusals", title, note, f"<figure>{chart}</figure>{table}")


def _run_labels(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """``11-25 13:23`` per run start; to the second when two runs started in the same minute."""
    def label(run: Mapping[str, Any], seconds: bool) -> str:
        started = run["started"]
        if isinstance(started, dt.datetime):
            return started.strftime("%m-%d %H:%M:%S" if seconds else "%m-%d %H:%M")
        return str(started)[5:19 if seconds else 16]

    labels = [label(r, False) for r in runs]
    return labels if len(set(labels)) == len(labels) else [label(r, True) for r in runs]


def _closure_section(data: ReportData) -> str:
    title = "Closure rounds per run"
    note = ("Hook–jump–contract rounds each closure needed to converge in each run (<code>closure_runs</code>): "
            "<b>user_groups</b> joins user ids by aliases, <b>anonymous_groups</b> anonymous ids and e-mails "
            "among themselves. Rounds grow slowly with the length of the longest chain of links (6 for a "
            "1,000-step chain); past <code>idstitch__closure_max_rounds</code> the run fails.")
    if not data.runs:
        return _section("closure", title, note, _none("None: no closure run recorded yet."))
    if data.total_runs > len(data.runs):
        note += esc(f" The latest {len(data.runs)} of {data.total_runs:,} runs are shown.")
    names: list[str] = []
    for run in data.runs:
        names += [n for n in run["closures"] if n not in names]
    series = [Series(name, [run["closures"].get(name, {}).get("rounds", 0) for run in data.runs],
                     PALETTE[(2 * i) % len(PALETTE)]) for i, name in enumerate(names)]
    chart = bar_chart(
        title=title, desc=f"Grouped bars: rounds of each closure in the latest {len(data.runs)} runs.",
        categories=_run_labels(data.runs), series=series,
        x_label="run (started, UTC)", y_label="rounds", height=260,
    )
    rows = []
    for run in data.runs:
        converged = all(c["converged"] for c in run["closures"].values())
        rows.append((textfmt.ts(run["started"]), run["invocation_id"],
                     *(_num(run["closures"][n]["rounds"]) if n in run["closures"] else "–" for n in names),
                     "yes" if converged else "NO"))
    table = _table("table-closure", title, ("run started", "invocation", *names, "converged"), rows,
                   numeric=range(2, 2 + len(names)))
    return _section("closure", title, note, f"<figure>{chart}</figure>{table}")


HIDDEN_NOTE = " Identifier values are hidden; <code>idstitch report --show-identifiers</code> shows them."


def _largest_section(data: ReportData) -> str:
    title = f"Largest persons (top {TOP})"
    note = "The persons holding the most identifiers; a person much larger than the rest is worth a look. " + (
        "<code>idstitch explain CUSTOMER_ID</code> lists its identifiers." if data.show_identifiers else
        "Each is named by its person id (the whole id in the tooltip; <code>dim_person</code> has its row)."
        + HIDDEN_NOTE)
    if not data.largest:
        return _section("largest", title, note, _none("None: no person holds an identifier."))
    named = data.show_identifiers
    rows = [((_clipped(r["customer_id"]),) if named else ()) + (
             _clipped(r["person_id"], 12), "yes" if r["is_identified"] else "no", _num(r["n_identifiers"]),
             _num(r["n_user_ids"]), _num(r["n_anonymous_ids"]), _num(r["n_emails"]), _num(r["n_events"]))
            for r in data.largest]
    header = (("customer id",) if named else ()) + (
        "person id", "identified", "identifiers", "user ids", "anonymous ids", "e-mails", "events")
    first = 3 if named else 2
    return _section("largest", title, note, _table("table-largest", title, header, rows,
                                                   numeric=range(first, first + 5)))


def _quarantined_section(data: ReportData) -> str:
    total = sum(data.refusals.get("identifier", {}).values())
    title = "Quarantined identifiers"
    note = ("Identifiers that belong to no person: hubs and identifiers shared by several user ids. Their "
            "events fall back to the event's other ids." + (esc(f" The {TOP} with the most messages of {total:,}.")
                                                             if total > TOP else "")
            + (" <code>idstitch explain ID</code> shows an identifier's refused links." if data.show_identifiers
               else HIDDEN_NOTE))
    if not data.quarantined:
        return _section("quarantined", title, note, _none("None: no identifier is quarantined."))
    named = data.show_identifiers
    rows = [(r["identifier_type"], *((_clipped(r["identifier"]),) if named else ()), r["reason"],
             _num(r["n_messages"]), textfmt.ts(r["first_seen_at"])) for r in data.quarantined]
    header = ("type", *(("identifier",) if named else ()), "reason", "messages", "first seen")
    return _section("quarantined", title, note, _table(
        "table-quarantined", title, header, rows, numeric=(header.index("messages"),)))


def _headline(data: ReportData) -> str:
    c = data.counts
    links = sum(data.refusals.get("link", {}).values())
    idents = sum(data.refusals.get("identifier", {}).values())
    cards = [
        ("persons", _num(c["persons"]), f"{c['identified_persons']:,} identified, "
                                        f"{c['persons'] - c['identified_persons']:,} anonymous"),
        ("identified-share", _share(c["identified_persons"], c["persons"]), "of persons are identified"),
        ("events", _num(c["events"]), f"{_share(c['identified_events'], c['events'])} attributed to an "
                                      "identified person"),
        ("refused-links", _num(links), f"{idents:,} identifiers quarantined"),
    ]
    labels = {"identified-share": "identified"}
    return '<dl class="headline">' + "".join(
        f'<div><dt>{esc(labels.get(key, key.replace("-", " ")))}</dt><dd id="headline-{key}">{esc(value)}</dd>'
        f'<dd class="sub">{esc(sub)}</dd></div>' for key, value, sub in cards) + "</dl>"


STYLE = """
:root { color-scheme: light; }
body { margin: 0; background: #f6f6f4; color: #222;
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
header, main, footer { max-width: 1040px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 24px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 0 0 6px; }
.meta { color: #555; margin: 0 0 16px; font-size: 14px; }
code { font: 13px ui-monospace, "DejaVu Sans Mono", monospace; background: #ecece8; padding: 0 3px;
       border-radius: 3px; white-space: nowrap; }
.headline { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; margin: 0 0 20px; }
.headline div { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 10px 14px; }
.headline dt { color: #555; font-size: 13px; text-transform: uppercase; letter-spacing: .04em; }
.headline dd { margin: 0; font-size: 26px; font-weight: 650; }
.headline dd.sub { font-size: 13px; font-weight: 400; color: #555; }
section { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 16px 20px; margin: 0 0 20px; }
.note { color: #444; font-size: 14px; margin: 0 0 8px; max-width: 90ch; }
figure { margin: 0 0 8px; }
svg.chart { display: block; width: 100%; height: auto; }
table { border-collapse: collapse; font-size: 13px; margin: 4px 0 0; font-variant-numeric: tabular-nums; }
caption { text-align: left; color: #666; font-size: 12px; padding: 0 0 2px; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e6e6e6; text-align: left; white-space: nowrap; }
th { border-bottom: 1px solid #bbb; font-weight: 600; }
td.n, th.n { text-align: right; }
tfoot td { border-top: 1px solid #bbb; font-weight: 600; }
.scroll { overflow-x: auto; }
.none { font-style: italic; color: #555; margin: 8px 0; }
.identifiers { font-size: 14px; margin: 0 0 16px; padding: 6px 10px; border-radius: 4px; max-width: 90ch; }
.identifiers.hidden { color: #444; background: #ecece8; }
.identifiers.shown { color: #5c1a00; background: #fde8d8; border: 1px solid #e9a37a; }
footer { color: #666; font-size: 13px; padding-bottom: 32px; }
"""

# no scripts, nothing fetched: the page is one file and cannot load or run anything, whatever the data holds
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _identifiers_line(data: ReportData) -> str:
    """Whether the page holds identifier values: a page passed around should not, and says so either way."""
    if data.show_identifiers:
        return ('<p class="identifiers shown" id="identifier-values"><b>Contains identifier values</b> (run with '
                "<code>--show-identifiers</code>): the largest persons' customer ids and the quarantined identifiers "
                "are user ids and e-mails — raw, unless <code>idstitch__personal_columns</code> hashes them. "
                "Share this page only where those may go.</p>")
    return ('<p class="identifiers hidden" id="identifier-values">Identifier values hidden: no user id or e-mail '
            "is shown (persons are named by their person id). Run <code>idstitch report --show-identifiers</code> "
            "to include them.</p>")


def render(data: ReportData) -> str:
    run = data.latest_run
    run_text = (f"latest run <code>{esc(run['invocation_id'])}</code> started {esc(textfmt.ts(run['run_started_at']))}"
                if run else "no run recorded")
    sections = [_identifiers_section(data), _attribution_section(data), _tracked_section(data),
                _refusals_section(data), _closure_section(data), _largest_section(data), _quarantined_section(data)]
    generated = textfmt.ts(data.generated_at)
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>idstitch report · {esc(data.target)} · {esc(data.schema)}</title>"
        f"<style>{STYLE}</style></head><body>\n"
        "<header><h1>idstitch report</h1>"
        f'<p class="meta">target <b>{esc(data.target)}</b> ({esc(data.where)}) · schema <b>{esc(data.schema)}</b>'
        f" · {run_text} · generated {esc(generated)} UTC</p>"
        f"{_identifiers_line(data)}{_headline(data)}</header>\n<main>\n" + "\n".join(sections) + "\n</main>\n"
        f"<footer>idstitch {esc(__version__)} · counted in the warehouse from the published tables "
        f"({esc(', '.join(REPORT_TABLES[:4] + tuple(data.facts)))}) · one self-contained file: "
        "no scripts, nothing loaded from elsewhere · "
        + ("identifier values included (--show-identifiers)" if data.show_identifiers else
           "identifier values hidden; run with --show-identifiers to include them") + ".</footer>\n</body></html>\n"
    )


# ---------------------------------------------------------------------------------------------- writing


def check_out_dir(out: Path) -> None:
    """Fail early, before any query, when ``out`` cannot become a directory holding the report."""
    if out.exists() and not out.is_dir():
        raise IdstitchError(f"--out {out} is a file, not a directory")
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise IdstitchError(f"--out {out}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise IdstitchError(f"--out {out}: {existing} is not writable")


def write(out: Path, page: str) -> Path:
    """``out/index.html`` (directories created), written whole or not at all."""
    path = out / INDEX
    partial = out / f".{INDEX}.partial"
    try:
        out.mkdir(parents=True, exist_ok=True)
        partial.write_text(page, encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise IdstitchError(f"cannot write the report to {path}: {one_line(exc.strerror or exc)}") from None
    return path
