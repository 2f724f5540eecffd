"""``idstitch explain``: which person an identifier belongs to, and the evidence joining (or not) two identifiers.

Reads ``person_identifiers``, ``dim_person``, ``identity_links`` and ``identity_refusals``. The evidence path
is a breadth-first search over the ACCEPTED links of the one person both identifiers belong to (fetched by
``person_id_a``), so it is a shortest chain of links, each with its kind, source table, first message and
first time seen. When the two identifiers are in different persons, the refused links touching either
person (or a quarantined identifier itself) say what would have joined them and which guard refused it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from . import textfmt
from .db import Database, Relations
from .errors import IdstitchError

EXPLAIN_TABLES = ("dim_person", "person_identifiers", "identity_links", "identity_refusals")
CASE_INSENSITIVE_TYPES = ("email",)  # normalised to lower case in the graph (idstitch__lowercase_identifier_types)

Key = tuple[str, str]  # (identifier_type, identifier)


@dataclass
class Match:
    """One typed identifier a value matched: in a person, or quarantined (person None)."""

    identifier_type: str
    identifier: str
    person_id: str | None
    first_seen_at: Any = None
    last_seen_at: Any = None
    message_count: int | None = None
    quarantine_reason: str | None = None

    @property
    def key(self) -> Key:
        return (self.identifier_type, self.identifier)

    @property
    def label(self) -> str:
        return f"{self.identifier_type} {self.identifier}"


@dataclass
class Hop:
    start: Key
    end: Key
    link: dict[str, Any]
    others: list[dict[str, Any]] = field(default_factory=list)  # further links between the same two ids


def _candidates(value: str, type_filter: str | None) -> list[tuple[str | None, str]]:
    """(type, value) pairs to look up: the value as given, and ``TYPE:VALUE`` split when it looks typed."""
    out: list[tuple[str | None, str]] = [(type_filter, value)]
    head, sep, tail = value.partition(":")
    if sep and tail and type_filter is None and head.replace("_", "").isalnum() and head == head.lower():
        out.append((head, tail))
    return out


def lookup(db: Database, rels: Relations, value: str, type_filter: str | None = None) -> list[Match]:
    """Every typed identifier ``value`` names (e-mails case-insensitively); quarantined ones included."""
    value = value.strip()
    if not value:
        raise IdstitchError("an empty identifier matches nothing")
    for type_, text in _candidates(value, type_filter):
        matches = _lookup(db, rels, text, type_)
        if matches:
            return matches
    return []


def _lookup(db: Database, rels: Relations, value: str, type_: str | None) -> list[Match]:
    lowered = value.lower()
    ci_types = ", ".join(f"'{t}'" for t in CASE_INSENSITIVE_TYPES)
    type_sql, type_params = ("and identifier_type = ?", [type_]) if type_ else ("", [])
    rows = db.query(
        "select identifier_type, identifier, person_id, first_seen_at, last_seen_at, message_count "
        f"from {rels['person_identifiers']} "
        f"where (identifier = ? or (identifier_type in ({ci_types}) and identifier = ?)) {type_sql} "
        "order by identifier_type, identifier",
        [value, lowered, *type_params],
    )
    matches = [
        Match(str(r["identifier_type"]), str(r["identifier"]), str(r["person_id"]), r["first_seen_at"],
              r["last_seen_at"], r["message_count"])
        for r in rows
    ]
    type_sql_a = "and identifier_type_a = ?" if type_ else ""
    quarantined = db.query(
        "select identifier_type_a as identifier_type, identifier_a as identifier, reason, first_seen_at, "
        f"n_messages from {rels['identity_refusals']} "
        f"where refusal_kind = 'identifier' and (identifier_a = ? or (identifier_type_a in ({ci_types}) "
        f"and identifier_a = ?)) {type_sql_a} order by identifier_type_a, identifier_a",
        [value, lowered, *type_params],
    )
    known = {m.key for m in matches}
    for r in quarantined:
        if (r["identifier_type"], r["identifier"]) not in known:
            matches.append(Match(str(r["identifier_type"]), str(r["identifier"]), None, r["first_seen_at"],
                                 None, r["n_messages"], quarantine_reason=str(r["reason"])))
    return matches


def _one(db: Database, rels: Relations, value: str, type_filter: str | None) -> Match:
    matches = lookup(db, rels, value, type_filter)
    if not matches:
        raise IdstitchError(_unknown(value, type_filter))
    if len(matches) > 1:
        listed = ", ".join(f"{m.identifier_type}:{m.identifier}" for m in matches)
        raise IdstitchError(
            f"{value!r} matches {len(matches)} identifiers ({listed}): pass --type or write TYPE:VALUE"
        )
    return matches[0]


def _unknown(value: str, type_filter: str | None) -> str:
    what = f"{type_filter} {value!r}" if type_filter else repr(value)
    return (
        f"unknown identifier {what}: not in person_identifiers or identity_refusals "
        "(values match exactly, e-mails ignore case; junk values are never stored)"
    )


# ---------------------------------------------------------------------------------------------- reads


def person_row(db: Database, rels: Relations, person_id: str) -> dict[str, Any]:
    rows = db.query(f"select * from {rels['dim_person']} where person_id = ?", [person_id])
    return rows[0] if rows else {"person_id": person_id}


def person_identifiers(db: Database, rels: Relations, person_id: str) -> list[dict[str, Any]]:
    return db.query(
        "select identifier_type, identifier, first_seen_at, last_seen_at, message_count "
        f"from {rels['person_identifiers']} where person_id = ? "
        "order by case identifier_type when 'user_id' then 0 when 'email' then 1 when 'anonymous_id' then 2 "
        "else 3 end, identifier_type, first_seen_at, identifier",
        [person_id],
    )


LINK_COLUMNS = (
    "identifier_type_a, identifier_a, identifier_type_b, identifier_b, link_kind, source_table, "
    "first_message_id, first_seen_at, message_count"
)


def accepted_links(db: Database, rels: Relations, person_id: str) -> list[dict[str, Any]]:
    return db.query(
        f"select {LINK_COLUMNS} from {rels['identity_links']} where is_accepted and person_id_a = ?", [person_id]
    )


def refused_links(
    db: Database, rels: Relations, person_ids: Sequence[str], keys: Sequence[Key]
) -> list[dict[str, Any]]:
    """Refused links with an end in one of ``person_ids`` or on one of ``keys`` (quarantined identifiers)."""
    conditions, params = [], []
    if person_ids:
        marks = ", ".join("?" for _ in person_ids)
        conditions.append(f"person_id_a in ({marks}) or person_id_b in ({marks})")
        params += [*person_ids, *person_ids]
    for type_, value in keys:
        conditions.append(
            "(identifier_type_a = ? and identifier_a = ?) or (identifier_type_b = ? and identifier_b = ?)"
        )
        params += [type_, value, type_, value]
    if not conditions:
        return []
    return db.query(
        f"select {LINK_COLUMNS}, refusal_reason, person_id_a, person_id_b from {rels['identity_links']} "
        f"where not is_accepted and ({' or '.join(conditions)}) "
        "order by first_seen_at, identifier_type_a, identifier_a, identifier_type_b, identifier_b, link_kind",
        params,
    )


def _orient(links: Sequence[Mapping[str, Any]], near: Any) -> list[dict[str, Any]]:
    """Each link with its "a" end on the near side (``near(key, person_id)``), so tables read from the
    identifiers asked about outwards."""
    out = []
    for link in links:
        link = dict(link)
        a = (str(link["identifier_type_a"]), str(link["identifier_a"]))
        b = (str(link["identifier_type_b"]), str(link["identifier_b"]))
        if not near(a, link.get("person_id_a")) and near(b, link.get("person_id_b")):
            for x, y in (("identifier_type_a", "identifier_type_b"), ("identifier_a", "identifier_b"),
                         ("person_id_a", "person_id_b")):
                link[x], link[y] = link[y], link[x]
        out.append(link)
    return out


def _label_persons(db: Database, rels: Relations, links: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adds ``customer_id_b``: the readable name of the person at each link's far end (None: no person)."""
    person_ids = sorted({str(link["person_id_b"]) for link in links if link.get("person_id_b")})
    names: dict[str, str] = {}
    for start in range(0, len(person_ids), 500):
        chunk = person_ids[start:start + 500]
        rows = db.query(
            f"select person_id, customer_id from {rels['dim_person']} where person_id in ("
            + ", ".join("?" for _ in chunk) + ")",
            chunk,
        )
        names.update({str(r["person_id"]): str(r["customer_id"]) for r in rows})
    for link in links:
        link["customer_id_b"] = names.get(str(link.get("person_id_b")))
    return links


def quarantine_reasons(db: Database, rels: Relations, keys: Sequence[Key]) -> dict[Key, str]:
    if not keys:
        return {}
    rows = db.query(
        f"select identifier_type_a, identifier_a, reason from {rels['identity_refusals']} "
        "where refusal_kind = 'identifier' and identifier_a in (" + ", ".join("?" for _ in keys) + ")",
        [value for _, value in keys],
    )
    wanted = set(keys)
    return {
        (str(r["identifier_type_a"]), str(r["identifier_a"])): str(r["reason"])
        for r in rows if (r["identifier_type_a"], r["identifier_a"]) in wanted
    }


# ---------------------------------------------------------------------------------------------- path


def _link_order(link: Mapping[str, Any]) -> tuple[Any, ...]:
    seen = link.get("first_seen_at")
    return (seen is None, str(seen), str(link.get("link_kind")), str(link.get("source_table")),
            str(link.get("first_message_id")))


def shortest_path(links: Sequence[Mapping[str, Any]], start: Key, goal: Key) -> list[Hop] | None:
    """A shortest chain of links from ``start`` to ``goal`` (BFS; ties broken by type and value, so the
    answer is the same on every engine). Each hop shows the earliest link between its two identifiers."""
    between: dict[frozenset[Key], list[dict[str, Any]]] = {}
    neighbours: dict[Key, set[Key]] = {}
    for link in links:
        a = (str(link["identifier_type_a"]), str(link["identifier_a"]))
        b = (str(link["identifier_type_b"]), str(link["identifier_b"]))
        if a == b:
            continue
        between.setdefault(frozenset((a, b)), []).append(dict(link))
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    if start == goal:
        return []
    parent: dict[Key, Key] = {start: start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(neighbours.get(node, ())):
            if nxt in parent:
                continue
            parent[nxt] = node
            if nxt == goal:
                chain = [goal]
                while chain[-1] != start:
                    chain.append(parent[chain[-1]])
                chain.reverse()
                hops = []
                for u, v in pairwise(chain):
                    options = sorted(between[frozenset((u, v))], key=_link_order)
                    hops.append(Hop(u, v, options[0], options[1:]))
                return hops
            queue.append(nxt)
    return None


# ---------------------------------------------------------------------------------------------- explain


def explain(
    db: Database, rels: Relations, value: str, other: str | None = None, type_filter: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """Everything the text and JSON output need, as plain data."""
    db.require(rels, EXPLAIN_TABLES)
    if other is None:
        matches = lookup(db, rels, value, type_filter)
        if not matches:
            raise IdstitchError(_unknown(value, type_filter))
        return {"query": value, "matches": [_match_report(db, rels, m, limit) for m in matches]}
    first, second = _one(db, rels, value, type_filter), _one(db, rels, other, type_filter)
    report: dict[str, Any] = {
        "query": [value, other],
        "first": _match_report(db, rels, first, limit),
        "second": (
            _match_report(db, rels, second, limit)
            if second.person_id != first.person_id or first.person_id is None
            else {"match": vars(second)}
        ),
    }
    if first.person_id is not None and first.person_id == second.person_id:
        hops = shortest_path(accepted_links(db, rels, first.person_id), first.key, second.key)
        report["same_person"] = True
        report["path"] = None if hops is None else [
            {"from": list(h.start), "to": list(h.end), "link": h.link, "more_links": h.others} for h in hops
        ]
        return report
    report["same_person"] = False
    persons = [p for p in (first.person_id, second.person_id) if p]
    quarantined = [m.key for m in (first, second) if m.person_id is None]
    near_persons, near_keys = set(persons), set(quarantined)
    refused = _orient(refused_links(db, rels, persons, quarantined),
                      lambda key, person: key in near_keys or (person is not None and person in near_persons))
    report["refused_links"] = _label_persons(db, rels, refused[:limit]) + refused[limit:]
    report["bridges"] = _bridges(db, rels, refused, first, second)
    return report


def _match_report(db: Database, rels: Relations, match: Match, limit: int) -> dict[str, Any]:
    out: dict[str, Any] = {"match": vars(match)}
    if match.person_id is not None:
        identifiers = person_identifiers(db, rels, match.person_id)
        out["person"] = person_row(db, rels, match.person_id)
        out["identifiers"] = identifiers[:limit]
        out["identifiers_total"] = len(identifiers)
    else:
        refused = _orient(refused_links(db, rels, [], [match.key]), lambda key, person: key == match.key)
        out["refused_links"] = _label_persons(db, rels, refused[:limit])
        out["refused_links_total"] = len(refused)
    return out


def _bridges(
    db: Database, rels: Relations, refused: Sequence[Mapping[str, Any]], first: Match, second: Match
) -> list[dict[str, Any]]:
    """Identifiers whose refused links reach both sides (a shared e-mail, a household computer), and refused
    links straight from one side to the other."""
    sides = {first.person_id or first.key: "first", second.person_id or second.key: "second"}

    def side(person_id: Any, key: Key) -> str | None:
        return sides.get(person_id) or sides.get(key)

    touching: dict[Key, set[str]] = {}
    direct: list[Mapping[str, Any]] = []
    for link in refused:
        a = (str(link["identifier_type_a"]), str(link["identifier_a"]))
        b = (str(link["identifier_type_b"]), str(link["identifier_b"]))
        side_a, side_b = side(link["person_id_a"], a), side(link["person_id_b"], b)
        if side_a and side_b and side_a != side_b:
            direct.append(link)
        if side_a and not side_b:
            touching.setdefault(b, set()).add(side_a)
        if side_b and not side_a:
            touching.setdefault(a, set()).add(side_b)
    both = sorted(k for k, s in touching.items() if s == {"first", "second"})
    reasons = quarantine_reasons(db, rels, both)
    out: list[dict[str, Any]] = []
    for key in both:
        link_reasons = sorted({
            str(link["refusal_reason"]) for link in refused
            if key in {(link["identifier_type_a"], link["identifier_a"]),
                       (link["identifier_type_b"], link["identifier_b"])}
        })
        out.append({"identifier_type": key[0], "identifier": key[1], "quarantined": reasons.get(key),
                    "refusal_reasons": link_reasons})
    for link in direct:
        out.append({"link": dict(link)})
    return out


# ---------------------------------------------------------------------------------------------- text


def _person_block(
    report: Mapping[str, Any], limit: int, also_mark: Sequence[Mapping[str, Any]] = (), show_refused: bool = True
) -> list[str]:
    match = report["match"]
    if match.get("person_id") is None:
        lines = [
            f"{match['identifier_type']} {match['identifier']} belongs to NO person: quarantined "
            f"({match.get('quarantine_reason')}), so it joins nobody and decides nothing.",
        ]
        refused = report.get("refused_links") or []
        total = report.get("refused_links_total", len(refused))
        if refused and show_refused:
            lines += ["", f"its refused links ({total:,}):", _refused_table(refused)]
            if total > len(refused):
                lines.append(f"  … {total - len(refused):,} more (raise --limit)")
        return lines
    person = report.get("person", {})
    ident = "identified" if person.get("is_identified") else "anonymous"
    lines = [f"  customer id   {person.get('customer_id', '?')} ({ident})"]
    if person.get("first_seen_at") is not None:
        lines.append(
            f"  seen          {textfmt.ts(person.get('first_seen_at'))} → {textfmt.ts(person.get('last_seen_at'))}, "
            f"{textfmt.plural(int(person.get('n_events') or 0), 'event')}"
        )
    counts = [
        textfmt.plural(int(person.get(col) or 0), word)
        for col, word in (("n_user_ids", "user id"), ("n_anonymous_ids", "anonymous id"), ("n_emails", "e-mail"))
    ]
    lines.append(f"  identifiers   {', '.join(counts)}")
    identifiers = report.get("identifiers") or []
    total = report.get("identifiers_total", len(identifiers))
    marks = {(m["identifier_type"], m["identifier"]) for m in [match, *also_mark]}
    rows = [
        (r["identifier_type"], r["identifier"] + ("  ◂" if (r["identifier_type"], r["identifier"]) in marks else ""),
         textfmt.ts(r["first_seen_at"]), textfmt.ts(r["last_seen_at"]), textfmt.number(r["message_count"]))
        for r in identifiers
    ]
    lines += ["", textfmt.table(("type", "identifier", "first seen", "last seen", "messages"), rows, right=(4,),
                                indent="  ")]
    if total > len(identifiers):
        lines.append(f"    … {total - len(identifiers):,} more identifiers (raise --limit)")
    return lines


def _refused_table(links: Sequence[Mapping[str, Any]], indent: str = "  ") -> str:
    rows = [
        (link["refusal_reason"], f"{link['identifier_type_a']} {link['identifier_a']}",
         f"{link['identifier_type_b']} {link['identifier_b']}",
         link.get("customer_id_b") or "quarantined", link["link_kind"], link["source_table"], link["first_message_id"],
         textfmt.ts(link["first_seen_at"]))
        for link in links
    ]
    header = ("reason", "identifier", "linked to", "whose person", "kind", "source", "message", "first seen")
    return textfmt.table(header, rows, indent=indent)


def _link_text(link: Mapping[str, Any]) -> str:
    return (f"{link['link_kind']} in {link['source_table']}, message {link['first_message_id']}, "
            f"first seen {textfmt.ts(link['first_seen_at'])}")


def format_explain(report: Mapping[str, Any], limit: int = 50) -> str:
    if "matches" in report:
        matches = report["matches"]
        out: list[str] = []
        if len(matches) > 1:
            listed = "; ".join(
                f"{m['match']['identifier_type']} → "
                + (f"person {m['match']['person_id']}" if m["match"]["person_id"] else "quarantined")
                for m in matches
            )
            out += [f"{report['query']!r} matches {len(matches)} identifiers: {listed}",
                    "(pass --type or TYPE:VALUE to pick one)", ""]
        for i, m in enumerate(matches):
            match = m["match"]
            if i:
                out += ["", "─" * 72, ""]
            if match["person_id"]:
                out.append(f"{match['identifier_type']} {match['identifier']} belongs to person {match['person_id']}")
            out += _person_block(m, limit)
        return "\n".join(out)

    first, second = report["first"]["match"], report["second"]["match"]
    a, b = f"{first['identifier_type']} {first['identifier']}", f"{second['identifier_type']} {second['identifier']}"
    if report["same_person"]:
        out = [f"{a} and {b} are the SAME person: {first['person_id']}"]
        out += _person_block(report["first"], limit, also_mark=[second])
        path = report.get("path")
        out.append("")
        if path is None:
            out.append("evidence: no chain of accepted links between them was found in identity_links")
        elif not path:
            out.append("evidence: it is the same identifier")
        else:
            out.append(f"evidence: {textfmt.plural(len(path), 'hop')} over accepted links (a shortest path)")
            width = max(len(key[0]) for h in path for key in (h["from"], h["to"]))
            for hop in path:
                out.append(f"  {hop['from'][0]:<{width}}  {hop['from'][1]}")
                more = hop["more_links"]
                extra = ""
                if more:
                    kinds = sorted({f"{m['link_kind']} in {m['source_table']}" for m in more})
                    extra = f"  (+{len(more)} more: {', '.join(kinds[:3])}{', …' if len(kinds) > 3 else ''})"
                out.append(f"  {'':<{width}}  │ {_link_text(hop['link'])}{extra}")
            last = path[-1]["to"]
            out.append(f"  {last[0]:<{width}}  {last[1]}")
        return "\n".join(out)

    out = [f"{a} and {b} are NOT the same person.", ""]
    for label, side in (("first", report["first"]), ("second", report["second"])):
        match = side["match"]
        if label == "second":
            out += ["", "─" * 72, ""]
        if match["person_id"]:
            out.append(f"{match['identifier_type']} {match['identifier']} belongs to person {match['person_id']}")
        out += _person_block(side, limit, show_refused=False)
    out += ["", "─" * 72, ""]
    bridges = report.get("bridges") or []
    refused = report.get("refused_links") or []
    if bridges:
        out.append("what would have joined them, and why it was refused:")
        for bridge in bridges:
            if "link" in bridge:
                link = bridge["link"]
                out.append(f"  a direct link {link['identifier_type_a']} {link['identifier_a']} — "
                           f"{link['identifier_type_b']} {link['identifier_b']} ({_link_text(link)}): "
                           f"refused, {link['refusal_reason']}")
            else:
                status = (f"quarantined ({bridge['quarantined']})" if bridge["quarantined"]
                          else "its links refused (" + ", ".join(bridge["refusal_reasons"]) + ")")
                out.append(f"  {bridge['identifier_type']} {bridge['identifier']} is linked to both: {status}")
    else:
        out.append("nothing in identity_links connects the two: no link, accepted or refused, joins them.")
    if refused:
        shown = refused[:limit]
        out += ["", f"refused links touching either side ({len(refused):,}):", _refused_table(shown)]
        if len(refused) > len(shown):
            out.append(f"  … {len(refused) - len(shown):,} more (raise --limit)")
    return "\n".join(out)
