"""``idstitch diff`` — the blast radius of a change of vars — against real DuckDB and Postgres warehouses.

Per engine (``postgres`` marker for the Postgres half) one module fixture loads every scenario
(tests/fixtures/scenarios) and builds production once with ``idstitch run`` (hub limit 10, the scenarios'
setting), then snapshots every production table (row sets) and the dbt artifacts. Each test proposes a
change and checks the classification against the scenarios' stories and, once, against an independent
computation in Python over the kept scratch tables:

* hub limit 10 → 3: the users of scenarios 03 and 06 linked to more than 3 others are quarantined, and
  their persons split; 10 → 20: the hub user id of scenario 11 welds its 12 devices into one person;
* ``idstitch__shared_device_unidentified`` session → device: persons unchanged, only the events of
  shared-device sessions where nobody logged in change owner;
* no identifier traits: scenario 07's e-mail-only identity falls apart (subscriber id vs the app user).

Production is never written (row sets and artifacts identical before and after), the scratch schemas are
gone afterwards, and the error paths exit 2 with one line.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helpers.warehouse import Warehouse, quote_ident
from test_cli import assert_one_line_error, cli
from test_scenarios import combined_csvs

BUILD_VARS = {"idstitch__max_links_per_identifier": 10}  # the scenarios' hub limit
BASE = json.dumps(BUILD_VARS)
SCRATCH_MARK = "idstitch_diff"
FACTS = ("fct_tracks", "fct_pages", "fct_identifies")


@dataclass
class Production:
    wh: Warehouse
    tables: dict[str, str]  # schema.table -> digest of its row set
    artifacts: dict[str, str]


def _schemas_sql(wh: Warehouse) -> str:
    catalog = f" and table_catalog = '{wh.database}'" if wh.target == "duckdb" else ""
    return ("select table_schema, table_name from information_schema.tables "
            f"where table_schema not in ('information_schema', 'pg_catalog'){catalog} order by 1, 2")


def snapshot_tables(wh: Warehouse) -> dict[str, str]:
    """Every table and view outside the scratch schemas, with a digest of its rows (order-independent)."""
    out: dict[str, str] = {}
    for schema, table in wh.query(_schemas_sql(wh)):
        if SCRATCH_MARK in schema:
            continue
        rows = sorted(repr(r) for r in wh.query(f"select * from {quote_ident(schema)}.{quote_ident(table)}"))
        out[f"{schema}.{table}"] = hashlib.sha256("\n".join(rows).encode()).hexdigest() + f" ({len(rows)} rows)"
    return out


def snapshot_artifacts(wh: Warehouse) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(wh.target_path.glob("*.json"))}


def scratch_schemas(wh: Warehouse) -> list[str]:
    return [r[0] for r in wh.query("select schema_name from information_schema.schemata")
            if SCRATCH_MARK in str(r[0])]


@pytest.fixture(scope="module")
def prod(module_warehouse: Warehouse, tmp_path_factory: pytest.TempPathFactory) -> Production:
    wh = module_warehouse
    wh.load_tables("segment", combined_csvs(tmp_path_factory.mktemp("diff-scenarios")))
    built = cli("run", "--vars", BASE, wh=wh)
    assert built.code == 0, built
    return Production(wh, snapshot_tables(wh), snapshot_artifacts(wh))


def diff(prod: Production, changes: dict[str, Any], *extra: str, base: dict[str, Any] | None = None) -> Any:
    result = cli("diff", "--base-vars", json.dumps(BUILD_VARS if base is None else base),
                 "--vars", json.dumps(changes), *extra, wh=prod.wh)
    assert result.code == 0, result
    assert result.err == "", result
    return result


def diff_json(prod: Production, changes: dict[str, Any], *extra: str, **kw: Any) -> dict[str, Any]:
    return json.loads(diff(prod, changes, "--json", *extra, **kw).out)


def person_map(wh: Warehouse, schema: str) -> dict[tuple[str, str], str]:
    rows = wh.query(f"select identifier_type, identifier, person_id from {wh.relation('person_identifiers', schema)}")
    return {(t, i): p for t, i, p in rows}


def person_of(wh: Warehouse, identifier: str) -> str:
    rows = wh.query(f"select person_id from {wh.relation('person_identifiers')} where identifier = '{identifier}'")
    assert len(rows) == 1, rows
    return str(rows[0][0])


def expected_classes(current: dict[tuple[str, str], str], proposed: dict[tuple[str, str], str]) -> dict[str, Any]:
    """The diff's person figures, computed in Python from the two identifier → person maps."""
    out_of: dict[str, set[str]] = defaultdict(set)
    into: dict[str, set[str]] = defaultdict(set)
    members: dict[str, set[tuple[str, str]]] = defaultdict(set)
    proposed_members: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for key, person in current.items():
        members[person].add(key)
        if key in proposed:
            out_of[person].add(proposed[key])
            into[proposed[key]].add(person)
    for key, person in proposed.items():
        proposed_members[person].add(key)
    classes = dict.fromkeys(("merged", "split", "reanchored", "changed", "unchanged", "gone"), 0)
    for person, keys in members.items():
        targets = out_of[person]
        if not targets:
            classes["gone"] += 1
        elif len(targets) > 1:
            classes["split"] += 1
        elif len(into[next(iter(targets))]) > 1:
            classes["merged"] += 1
        elif next(iter(targets)) == person and proposed_members[person] == keys:
            classes["unchanged"] += 1
        elif next(iter(targets)) != person:
            classes["reanchored"] += 1
        else:
            classes["changed"] += 1
    merged = {p for p, sources in into.items() if len(sources) > 1}
    split = {p for p, targets in out_of.items() if len(targets) > 1}
    return {
        "current_persons": len(members),
        "proposed_persons": len(proposed_members),
        "merges": len(merged),
        "merged_current_persons": len(set().union(*(into[p] for p in merged))),
        "splits": len(split),
        "split_proposed_persons": len(set().union(*(out_of[p] for p in split))),
        "new_persons": sum(1 for p in proposed_members if p not in into),
        "current_persons_by_change": classes,
    }


# ---------------------------------------------------------------------------------------------- proposals


def test_lower_hub_limit_splits_persons(prod: Production) -> None:
    wh = prod.wh
    report = diff_json(prod, {"idstitch__max_links_per_identifier": 3}, "--keep-scratch")
    scratch = report["scratch_schemas"]
    assert report["scratch_kept"] and scratch[0] == f"{wh.schema}_idstitch_diff", report
    assert sorted(scratch_schemas(wh)) == sorted(scratch)

    # the figures agree with an independent computation over the kept scratch tables
    current, proposed = person_map(wh, wh.schema), person_map(wh, scratch[0])
    persons = report["persons"]
    expected = expected_classes(current, proposed)
    assert {k: persons[k] for k in expected} == expected
    assert persons["merges"] == 0 and persons["splits"] == 2 and persons["split_proposed_persons"] == 4
    # the two quarantined users: linked to more than 3 others
    assert persons["identifiers_only_current"] == {"user_id": 2}
    assert {k for k in current if k not in proposed} == {("user_id", "s03_u_carol"), ("user_id", "s06_u_new")}

    moved: dict[str, int] = {}
    for table in FACTS:
        before = dict(wh.query(f"select message_id, person_id from {wh.relation(table)}"))
        after = dict(wh.query(f"select message_id, person_id from {wh.relation(table, scratch[0])}"))
        assert before.keys() == after.keys()
        moved[table] = sum(1 for m in before if before[m] != after[m])
    events = report["events"]
    assert {t["table"]: t["changing_owner"] for t in events["by_table"]} == moved
    assert events["changing_owner"] == sum(moved.values()) > 0
    assert sum(m["changing_owner"] for m in events["by_method"]) == events["changing_owner"]

    # the split examples name identifiers that are one person today: explain shows the chain
    splits = {s["current_person_id"]: s for s in persons["split_examples"]}
    assert set(splits) == {person_of(wh, "s03_anon_tablet"), person_of(wh, "s06_anon_3")}
    for split in splits.values():
        assert split["proposed_persons_total"] == len(split["proposed_persons"]) == 2
        parts = [p["example"] for p in split["proposed_persons"]]
        explained = cli("explain", *(f"{p['identifier_type']}:{p['identifier']}" for p in parts), wh=wh)
        assert explained.code == 0 and "are the SAME person" in explained.out, explained

    # the next diff clears the kept scratch schemas first, and drops its own
    again = diff_json(prod, {"idstitch__max_links_per_identifier": 3})
    assert again["persons"] == persons and again["events"] == events
    assert scratch_schemas(wh) == []


def test_raise_hub_limit_merges_persons(prod: Production) -> None:
    wh = prod.wh
    result = diff(prod, {"idstitch__max_links_per_identifier": 20}, "--examples", "1")
    out = result.out
    assert out.startswith(f"idstitch diff · target {wh.target} (")
    assert "proposed vars {\"idstitch__max_links_per_identifier\": 20} over " + BASE in out
    assert "data tests skipped: --run-tests runs them" in out
    assert re.search(r"^  merged      1 proposed person would join 12 current persons$", out, flags=re.M), out
    assert re.search(r"^  split       0 current persons would fall apart", out, flags=re.M), out
    assert "identifiers  leaving the graph: none; joining it: user_id 1" in out  # the hub user id s11_user
    merges = out.split("merges (1 of 1, largest first", 1)[1]
    devices = re.findall(r"^    ← ([0-9a-f]{32})  1 identifier, e.g. anonymous_id (s11_anon_\d\d)$", merges, flags=re.M)
    assert len(devices) == 5
    for person, device in devices:
        assert person == person_of(wh, device)
    assert "    … 7 more current persons" in merges
    hint = re.search(r"^    \$ idstitch explain (\S+) (\S+)$", merges, flags=re.M)
    assert hint is not None and hint.group(1).startswith("anonymous_id:s11_anon_")
    apart = cli("explain", hint.group(1), hint.group(2), wh=wh)
    assert apart.code == 0 and "are NOT the same person" in apart.out and "hub_identifier" in apart.out, apart
    assert out.rstrip().endswith(f"scratch schemas dropped: {wh.schema}_idstitch_diff, "
                                 f"{wh.schema}_idstitch_diff_idstitch_internal")
    assert scratch_schemas(wh) == []


def test_shared_device_unidentified_moves_only_shared_device_events(prod: Production) -> None:
    wh = prod.wh
    # the base vars differ from production in a stored setting (traits): reported, the diff still runs
    base = {**BUILD_VARS, "idstitch__traits": ["email", "name"]}
    result = diff(prod, {"idstitch__shared_device_unidentified": "device"}, base=base)
    assert result.out.count("warning: production was built with idstitch__traits = ") == 1, result
    report = diff_json(prod, {"idstitch__shared_device_unidentified": "device"})
    assert report["base_mismatches"] == []
    persons, events = report["persons"], report["events"]
    assert persons["current_persons_by_change"]["unchanged"] == persons["current_persons"] == persons[
        "proposed_persons"]
    assert persons["merge_examples"] == persons["split_examples"] == []
    shared = sum(wh.query(f"select count(*) from {wh.relation(t)} where attribution_method = 'shared_device'")[0][0]
                 for t in FACTS)
    assert shared > 0
    assert events["by_method"] == [{"current_method": "shared_device", "proposed_method": "shared_device",
                                    "events": shared, "changing_owner": shared}]
    assert events["changing_owner"] == shared
    assert scratch_schemas(wh) == []


def test_removing_email_splits_the_email_bridged_person(prod: Production) -> None:
    wh = prod.wh
    report = diff_json(prod, {"idstitch__identifier_traits": []}, "--run-tests")
    assert report["data_tests"] == {"run": True, "failed": []}
    persons = report["persons"]
    emails = wh.query(f"select count(*) from {wh.relation('person_identifiers')} where identifier_type = 'email'")
    assert persons["identifiers_only_current"] == {"email": emails[0][0]}
    assert persons["identifiers_only_proposed"] == {}
    assert persons["merges"] == 0 and persons["splits"] == 1
    (split,) = persons["split_examples"]
    # scenario 07: the e-mail tool's subscriber id and the app user were one person through the e-mail only
    assert split["current_person_id"] == person_of(wh, "s07_u_dana") == person_of(wh, "s07_sub_123")
    examples = {(p["example"]["identifier_type"], p["example"]["identifier"]) for p in split["proposed_persons"]}
    assert examples == {("user_id", "s07_u_dana"), ("anonymous_id", "s07_sub_123")}
    classes = persons["current_persons_by_change"]
    assert classes["split"] == 1 and classes["merged"] == classes["gone"] == 0
    assert classes["changed"] + classes["reanchored"] > 0  # persons that lose their e-mails
    assert report["events"]["changing_owner"] > 0
    assert scratch_schemas(wh) == []


# ---------------------------------------------------------------------------------------------- errors


def test_bad_proposals_exit_2_and_leave_nothing(prod: Production) -> None:
    wh = prod.wh
    impossible = cli("diff", "--vars", '{"idstitch__max_links_per_identifier": 0}', wh=wh)
    assert_one_line_error(impossible, "idstitch diff: error:", "idstitch__max_links_per_identifier must be a whole")
    assert scratch_schemas(wh) == []

    clash = cli("diff", "--vars", '{"idstitch__session_gap_minutes": 60}', "--scratch-schema", wh.schema, wh=wh)
    assert_one_line_error(clash, f"would write to {wh.schema}", "where production lives")

    foreign = f"{wh.schema}_{SCRATCH_MARK}_foreign"
    wh.execute(f"create schema {quote_ident(foreign)}")
    wh.execute(f"create table {quote_ident(foreign)}.precious (x int)")
    try:
        refused = cli("diff", "--vars", '{"idstitch__session_gap_minutes": 60}', "--scratch-schema", foreign, wh=wh)
        assert_one_line_error(refused, f"scratch schema {foreign} already exists", "precious")
        assert wh.table_exists("precious", foreign)
    finally:
        wh.execute(f"drop schema {quote_ident(foreign)} cascade")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["diff"], "the following arguments are required: --vars"),
        (["diff", "--vars", "{not json"], "--vars is not valid JSON"),
        (["diff", "--vars", "[1]"], "--vars must be a JSON object"),
        (["diff", "--vars", "{}"], "--vars names no change"),
        (["diff", "--vars", '{"a": 1}', "--base-vars", "nope"], "--base-vars is not valid JSON"),
        (["diff", "--vars", '{"a": 1}', "--examples", "-1"], "--examples must be 0 or more"),
    ],
)
def test_bad_arguments_exit_2(argv: list[str], fragment: str) -> None:
    assert_one_line_error(cli(*argv), fragment)


def test_no_production_build_exits_2(duckdb_warehouse: Warehouse) -> None:
    wh = duckdb_warehouse
    wh.load_tables("segment", {"tracks": [{"id": "m1", "anonymous_id": "a1", "timestamp": "2024-01-01 10:00"}]})
    result = cli("diff", "--vars", '{"idstitch__session_gap_minutes": 60}', wh=wh)
    assert_one_line_error(result, "main.dim_person", "not found", "run `idstitch run`")
    assert scratch_schemas(wh) == []


def test_unreachable_database_exits_2(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    profile = {"idstitch": {"target": "prod", "outputs": {"prod": {
        "type": "postgres", "host": "127.0.0.1", "port": port, "user": "nobody", "password": "",
        "dbname": "analytics", "schema": "analytics", "threads": 1, "connect_timeout": 5}}}}
    (tmp_path / "profiles.yml").write_text(json.dumps(profile))
    result = cli("diff", "--vars", '{"idstitch__session_gap_minutes": 60}', "--profiles-dir", str(tmp_path),
                 "--target-path", str(tmp_path / "target"), env={"DBT_LOG_PATH": str(tmp_path / "logs")})
    assert_one_line_error(result, f"cannot connect to postgres nobody@127.0.0.1:{port}/analytics")


def test_help_reads_like_documentation() -> None:
    result = cli("diff", "--help")
    assert result.code == 0 and result.err == ""
    for fragment in ("--vars JSON", "--base-vars JSON", "--keep-scratch", "--scratch-schema", "--run-tests",
                     "_idstitch_diff", "merged", "split", "changing owner", "examples:", "idstitch diff --vars",
                     "exit codes:", "--profiles-dir", "DBT_PROFILES_DIR"):
        assert fragment in result.out, fragment


# ---------------------------------------------------------------------------------------------- production


def test_production_is_untouched(prod: Production) -> None:
    """Runs last in this module: after every diff above, production's rows and artifacts are as built."""
    wh = prod.wh
    after = snapshot_tables(wh)
    assert any(name.endswith(".person_identifiers") for name in after)
    assert any("_idstitch_internal." in name for name in after)
    assert after == prod.tables
    assert snapshot_artifacts(wh) == prod.artifacts
    assert scratch_schemas(wh) == []
