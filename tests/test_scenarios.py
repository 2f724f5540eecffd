"""Hand-written identity scenarios (tests/fixtures/scenarios/NN_name/), each with the expected person of every
message.

All scenarios are loaded together into the source schema ``segment`` (their ids are prefixed ``sNN_``; only
junk values are shared) and ``dbt build`` runs ONCE per engine. Per scenario we then check that the partition
of its messages by ``person_id`` is the partition by ``expected_person`` (labels are per scenario, so only
the grouping matters, never the person_id values). A last test compares DuckDB and Postgres row by row.

``test_fixtures_wellformed`` needs no dbt: it checks the fixtures themselves (headers, unique prefixed ids,
every message expected exactly once, hub-limit design).
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from helpers.warehouse import Warehouse, WarehouseFactory
from idstitch.demo import COLUMNS

SCENARIO_DIR = Path(__file__).parent / "fixtures" / "scenarios"
SOURCE_SCHEMA = "segment"
BUILD_VARS = {"idstitch__max_links_per_identifier": 10}
HUB_LIMIT = BUILD_VARS["idstitch__max_links_per_identifier"]
HUB_SCENARIOS = {"09", "11"}  # designed with >= 12 people on one identifier; the others stay far below
JUNK_ALIAS_SCENARIOS = {"16"}  # aliases to and from junk, on purpose

# the raw Segment layout of docs/CONTRACT.md, with the extra pass-through column the fixtures carry
RAW_COLUMNS = {table: list(columns) for table, columns in COLUMNS.items() if table != "truth"}
MESSAGE_TABLES = ("tracks", "pages", "identifies")
FCT = {"tracks": "fct_tracks", "pages": "fct_pages", "identifies": "fct_identifies"}
IDENTIFIER_COLUMNS = {"anonymous_id", "user_id", "email", "previous_id"}
EXPECTED_HEADER = ["source_table", "message_id", "expected_person"]
TS_FORMAT = "%Y-%m-%d %H:%M:%S"

# Rule 1's junk list: the seed (compared after trimming spaces and lower-casing), 'null' (built in: a seed
# loader reads that text as NULL), blanks, and anything made only of zeros and dashes.
JUNK_SEED = Path(__file__).resolve().parents[1] / "seeds" / "idstitch_junk_identifiers.csv"
with JUNK_SEED.open(newline="", encoding="utf-8") as _seed:
    SEED_JUNK = [row["value"] for row in csv.DictReader(_seed)]
JUNK = {"", "null"} | {v.strip(" ").lower() for v in SEED_JUNK}
ZEROS_AND_DASHES = re.compile(r"^[0\-]+$")

MessageKey = tuple[str, str]  # (source_table, message_id)


def is_junk(value: str | None) -> bool:
    if value is None:
        return True
    v = value.strip(" ").lower()
    return v in JUNK or bool(ZEROS_AND_DASHES.match(v))


# ---------------------------------------------------------------------------------------------- fixtures


_FIELD = re.compile(r'"((?:[^"]|"")*)"|([^,"]*)')


def parse_csv_line(line: str) -> list[str | None]:
    """One CSV record with the harness's NULL semantics: unquoted empty -> None, quoted ``""`` -> ''."""
    fields: list[str | None] = []
    pos = 0
    while True:
        m = _FIELD.match(line, pos)
        if m is None:
            raise ValueError(f"cannot parse CSV line at column {pos}: {line!r}")
        if m.group(1) is not None:
            fields.append(m.group(1).replace('""', '"'))
        else:
            fields.append(m.group(2) if m.group(2) != "" else None)
        pos = m.end()
        if pos == len(line):
            return fields
        if line[pos] != ",":
            raise ValueError(f"garbage after field at column {pos}: {line!r}")
        pos += 1
        if pos == len(line):
            fields.append(None)
            return fields


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str | None]]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines:
        raise ValueError(f"{path}: empty file (no header)")
    header = [h or "" for h in parse_csv_line(lines[0])]
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        if line == "":
            continue
        values = parse_csv_line(line)
        if len(values) != len(header):
            raise ValueError(f"{path}:{n}: {len(values)} fields, header has {len(header)}")
        rows.append(dict(zip(header, values, strict=True)))
    return header, rows


@dataclass
class Scenario:
    name: str
    path: Path
    headers: dict[str, list[str]] = field(default_factory=dict)
    tables: dict[str, list[dict[str, str | None]]] = field(default_factory=dict)
    expected_header: list[str] = field(default_factory=list)
    expected: dict[MessageKey, str] = field(default_factory=dict)
    expected_rows: list[dict[str, str | None]] = field(default_factory=list)

    @property
    def number(self) -> str:
        return self.name[:2]

    @property
    def prefix(self) -> str:
        return f"s{self.number}_"

    def messages(self) -> list[MessageKey]:
        return [(t, str(r["id"])) for t in MESSAGE_TABLES for r in self.tables[t]]


def load_scenario(path: Path) -> Scenario:
    sc = Scenario(path.name, path)
    for table in RAW_COLUMNS:
        sc.headers[table], sc.tables[table] = read_csv(path / f"{table}.csv")
    sc.expected_header, sc.expected_rows = read_csv(path / "expected.csv")
    for row in sc.expected_rows:
        sc.expected[(str(row.get("source_table")), str(row.get("message_id")))] = str(
            row.get("expected_person")
        )
    return sc


def scenario_dirs() -> list[Path]:
    return sorted(p for p in SCENARIO_DIR.iterdir() if p.is_dir() and re.match(r"^\d\d_", p.name))


SCENARIOS = [load_scenario(p) for p in scenario_dirs()]


def combined_csvs(tmp_dir: Path) -> dict[str, Path]:
    """One CSV per raw table holding every scenario's rows (files concatenated: quoting is kept as written)."""
    out: dict[str, Path] = {}
    for table, columns in RAW_COLUMNS.items():
        lines = [",".join(columns)]
        for sc in SCENARIOS:
            text = (sc.path / f"{table}.csv").read_text(encoding="utf-8").splitlines()
            assert parse_csv_line(text[0]) == columns, f"{sc.name}/{table}.csv: header differs"
            lines += [line for line in text[1:] if line != ""]
        out[table] = tmp_dir / f"{table}.csv"
        out[table].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


# ---------------------------------------------------------------------------------------------- fast test


def _links_per_identifier(sc: Scenario) -> dict[str, set[str]]:
    """Distinct non-junk identifiers each identifier co-occurs with (rule 2), keyed by normalised value."""
    linked: dict[str, set[str]] = defaultdict(set)
    for rows in sc.tables.values():
        for row in rows:
            ids = set()
            for col in sorted(IDENTIFIER_COLUMNS & set(row)):
                value = row[col]
                if not is_junk(value):
                    assert value is not None
                    v = value.strip(" ").lower() if col == "email" else value.strip(" ")
                    ids.add(v)
            for a, b in combinations(sorted(ids), 2):
                linked[a].add(b)
                linked[b].add(a)
    return linked


def test_fixtures_wellformed() -> None:
    problems: list[str] = []
    assert len(SCENARIOS) >= 12, f"expected at least 12 scenarios under {SCENARIO_DIR}"
    numbers = [sc.number for sc in SCENARIOS]
    assert len(numbers) == len(set(numbers)), f"duplicate scenario numbers: {numbers}"
    seen_ids: dict[tuple[str, str], str] = {}
    for sc in SCENARIOS:
        where = sc.name
        readme = sc.path / "README.md"
        if not readme.is_file():
            problems.append(f"{where}: README.md missing")
        elif not 3 <= len(readme.read_text().splitlines()) <= 8:
            problems.append(f"{where}: README.md should have 3-8 lines")
        for table, columns in RAW_COLUMNS.items():
            if sc.headers[table] != columns:
                problems.append(f"{where}/{table}.csv: header {sc.headers[table]} != {columns}")
        if sc.expected_header != EXPECTED_HEADER:
            problems.append(f"{where}/expected.csv: header {sc.expected_header} != {EXPECTED_HEADER}")

        for table, rows in sc.tables.items():
            for row in rows:
                mid = row.get("id")
                if mid is None or not mid.startswith(sc.prefix):
                    problems.append(f"{where}/{table}.csv: message id {mid!r} lacks prefix {sc.prefix!r}")
                    continue
                if (table, mid) in seen_ids:
                    problems.append(f"{where}/{table}.csv: id {mid} also in {seen_ids[(table, mid)]}")
                seen_ids[(table, mid)] = where
                for col in ("timestamp", "received_at"):
                    try:
                        datetime.strptime(str(row.get(col)), TS_FORMAT)
                    except ValueError:
                        problems.append(f"{where}/{table}.csv {mid}: bad {col} {row.get(col)!r}")
                for col in sorted(IDENTIFIER_COLUMNS & set(row)):
                    value = row[col]
                    if is_junk(value):
                        continue
                    assert value is not None
                    ok = (
                        f".{sc.prefix[:-1]}@" in value.strip(" ").lower()
                        if col == "email"
                        else value.strip(" ").startswith(sc.prefix)
                    )
                    if not ok:
                        problems.append(
                            f"{where}/{table}.csv {mid}: {col} {value!r} is neither junk nor prefixed"
                        )
            if table == "aliases" and sc.number not in JUNK_ALIAS_SCENARIOS:
                for row in rows:
                    if is_junk(row.get("previous_id")) or is_junk(row.get("user_id")):
                        problems.append(f"{where}/aliases.csv {row.get('id')}: alias with a junk side")

        messages = sc.messages()
        if not 4 <= len(messages) <= 25:
            problems.append(f"{where}: {len(messages)} messages (want 4-25)")
        expected_keys = [(str(r["source_table"]), str(r["message_id"])) for r in sc.expected_rows]
        dupes = {k for k in expected_keys if expected_keys.count(k) > 1}
        if dupes:
            problems.append(f"{where}/expected.csv: listed more than once: {sorted(dupes)}")
        missing = set(messages) - set(expected_keys)
        extra = set(expected_keys) - set(messages)
        if missing:
            problems.append(f"{where}/expected.csv: messages without expectation: {sorted(missing)}")
        if extra:
            problems.append(f"{where}/expected.csv: expectations for unknown messages: {sorted(extra)}")
        for (table, mid), label in sc.expected.items():
            if table not in MESSAGE_TABLES:
                problems.append(f"{where}/expected.csv {mid}: source_table {table!r}")
            if not label or label.strip() != label or label == "None":
                problems.append(f"{where}/expected.csv {mid}: bad label {label!r}")

        links = _links_per_identifier(sc)
        widest = max((len(v) for v in links.values()), default=0)
        if sc.number in HUB_SCENARIOS and widest < HUB_LIMIT + 2:
            problems.append(f"{where}: hub scenario but the widest identifier has only {widest} links")
        if sc.number not in HUB_SCENARIOS and widest > HUB_LIMIT // 2:
            problems.append(
                f"{where}: an identifier has {widest} links, too close to the hub limit {HUB_LIMIT}"
            )

    assert not problems, "fixture problems:\n  " + "\n  ".join(problems)


# ---------------------------------------------------------------------------------------------- dbt build


@dataclass
class BuildResult:
    warehouse: Warehouse
    returncode: int
    output: str
    # (source_table, message_id) -> list of (person_id, attribution_method), one per output row
    rows: dict[MessageKey, list[tuple[Any, Any]]]


def _build(engine: str, factory: WarehouseFactory, tmp_dir: Path) -> BuildResult:
    wh = factory(engine)  # type: ignore[arg-type]
    wh.load_tables(SOURCE_SCHEMA, combined_csvs(tmp_dir))
    proc = wh.run_dbt("build", vars=BUILD_VARS, expect_ok=False)
    rows: dict[MessageKey, list[tuple[Any, Any]]] = defaultdict(list)
    for table, fct in FCT.items():
        try:
            got = wh.query(f"select message_id, person_id, attribution_method from {wh.relation(fct)}")
        except Exception as exc:  # the fct table is missing: say why, with dbt's output
            raise AssertionError(
                f"{engine}: cannot read {fct} after dbt build ({exc})\n--- dbt output (tail) ---\n"
                + "\n".join(proc.stdout.splitlines()[-60:])
            ) from exc
        for message_id, person_id, method in got:
            rows[(table, str(message_id))].append((person_id, method))
    return BuildResult(wh, proc.returncode, proc.stdout + proc.stderr, dict(rows))


@pytest.fixture(scope="module")
def duckdb_build(
    warehouse_factory: WarehouseFactory, tmp_path_factory: pytest.TempPathFactory
) -> BuildResult:
    return _build("duckdb", warehouse_factory, tmp_path_factory.mktemp("scenarios-duckdb"))


@pytest.fixture(scope="module")
def postgres_build(
    warehouse_factory: WarehouseFactory, tmp_path_factory: pytest.TempPathFactory
) -> BuildResult:
    return _build("postgres", warehouse_factory, tmp_path_factory.mktemp("scenarios-postgres"))


ENGINES = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=ENGINES)
def build(request: pytest.FixtureRequest) -> BuildResult:
    return request.getfixturevalue(f"{request.param}_build")


# ---------------------------------------------------------------------------------------------- checks


def partition_diff(
    expected: dict[MessageKey, str],
    actual: dict[MessageKey, Any],
    fmt: Callable[[MessageKey], str] = lambda k: f"{k[0]}:{k[1]}",
) -> list[str]:
    """Readable differences between two partitions of the same messages ([] when they are equal).

    ``expected`` maps message -> label, ``actual`` message -> person_id. A label spread over several
    person_ids is a wrong split; a person_id holding several labels is a wrong merge.
    """
    by_label: dict[str, dict[Any, list[str]]] = defaultdict(lambda: defaultdict(list))
    by_person: dict[Any, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for key, label in sorted(expected.items()):
        pid = actual[key]
        by_label[label][pid].append(fmt(key))
        by_person[pid][label].append(fmt(key))
    first_message = {pid: min(min(msgs) for msgs in labels.values()) for pid, labels in by_person.items()}
    short = {pid: f"P{n}" for n, pid in enumerate(sorted(by_person, key=first_message.__getitem__), start=1)}
    out: list[str] = []
    for label, persons in sorted(by_label.items()):
        if len(persons) > 1:
            parts = "; ".join(
                f"{short[p]}={{{', '.join(m)}}}" for p, m in sorted(persons.items(), key=lambda x: x[1])
            )
            out.append(f"SPLIT  '{label}' is spread over {len(persons)} persons: {parts}")
    for pid, labels in sorted(by_person.items(), key=lambda x: short[x[0]]):
        if len(labels) > 1:
            parts = "; ".join(f"'{lab}'={{{', '.join(m)}}}" for lab, m in sorted(labels.items()))
            out.append(f"MERGED {short[pid]} ({pid}) holds {len(labels)} expected persons: {parts}")
    if out:
        legend = ", ".join(f"{s}={p}" for p, s in sorted(short.items(), key=lambda x: int(x[1][1:])))
        out.append(f"(person ids: {legend})")
    return out


def test_build_succeeds(build: BuildResult) -> None:
    tail = "\n".join(build.output.splitlines()[-80:])
    assert build.returncode == 0, f"dbt build failed on {build.warehouse.target}:\n{tail}"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[sc.name for sc in SCENARIOS])
def test_scenario(build: BuildResult, scenario: Scenario) -> None:
    engine = build.warehouse.target
    problems: list[str] = []
    actual: dict[MessageKey, Any] = {}
    for key in scenario.expected:
        got = build.rows.get(key, [])
        if len(got) != 1:
            problems.append(f"{key[0]}:{key[1]} appears {len(got)} times in {FCT[key[0]]} (want exactly 1)")
            continue
        person_id, method = got[0]
        if person_id is None:
            problems.append(f"{key[0]}:{key[1]} has a NULL person_id (attribution_method={method!r})")
            continue
        actual[key] = person_id
    stray = sorted(k for k in build.rows if k[1].startswith(scenario.prefix) and k not in scenario.expected)
    if stray:
        problems.append(f"rows in the outputs that the fixture does not have: {stray}")
    assert not problems, f"[{engine}] {scenario.name}:\n  " + "\n  ".join(problems)

    methods = {k: build.rows[k][0][1] for k in actual}
    diff = partition_diff(scenario.expected, actual, fmt=lambda k: f"{k[0]}:{k[1]}[{methods[k]}]")
    readme = scenario.path / "README.md"
    assert not diff, (
        f"[{engine}] {scenario.name}: persons differ from expected.csv (story: {readme})\n  "
        + "\n  ".join(diff)
    )


def test_no_person_spans_scenarios(build: BuildResult) -> None:
    """Scenarios share only junk values: a person_id found in two scenarios means junk welded something."""
    scenarios_of: dict[Any, set[str]] = defaultdict(set)
    examples: dict[tuple[Any, str], str] = {}
    for (table, mid), got in build.rows.items():
        for person_id, _method in got:
            num = mid[1:3]
            scenarios_of[person_id].add(num)
            examples.setdefault((person_id, num), f"{table}:{mid}")
    shared = {p: sorted(s) for p, s in scenarios_of.items() if len(s) > 1}
    assert not shared, "persons spanning several scenarios:\n  " + "\n  ".join(
        f"{p}: " + ", ".join(examples[(p, n)] for n in nums) for p, nums in sorted(shared.items(), key=str)
    )


@pytest.mark.postgres
def test_engines_agree(duckdb_build: BuildResult, postgres_build: BuildResult) -> None:
    """(source_table, message_id, person_id, attribution_method) must be identical on DuckDB and Postgres."""

    def flat(b: BuildResult) -> set[tuple[str, str, Any, Any]]:
        return {(t, m, p, a) for (t, m), got in b.rows.items() for p, a in got}

    duck, pg = flat(duckdb_build), flat(postgres_build)
    only_duck, only_pg = sorted(duck - pg, key=str), sorted(pg - duck, key=str)
    lines = [f"duckdb only:   {r}" for r in only_duck[:40]] + [f"postgres only: {r}" for r in only_pg[:40]]
    assert not lines, (
        f"engines disagree on {len(only_duck)} duckdb / {len(only_pg)} postgres rows:\n  "
        + "\n  ".join(lines)
    )
