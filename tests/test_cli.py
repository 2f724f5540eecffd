"""The ``idstitch`` CLI — ``run``, ``validate``, ``explain`` — against real DuckDB and Postgres warehouses.

Per engine (``postgres`` marker for the Postgres half) one module fixture loads every scenario
(tests/fixtures/scenarios) plus a few ``cli_`` rows of its own, runs ``idstitch run`` (in process: dbt's
programmatic runner), appends an alias that joins two ``cli_`` persons and runs ``idstitch run`` again
(incremental: one merge). The tests then drive the CLI against that warehouse and check its exit codes and
what it prints against the tables themselves:

* run: one progress line per model, the summary's figures (closure rounds, persons, merges, refusals),
  ``--validate`` after the build; a failing data test exits 1, an impossible setting exits 2;
* explain: the four-hop alias chain of scenario 06, the alias added between runs, a value that is two
  identifier types, the e-mail shared by two accounts (scenario 12: refused, quarantined), unknown values;
* validate: stored validations accumulate and are compared with the previous one; a breached limit exits 1;
* bad input: invalid JSON, unknown checks, missing profiles, tables not built, a database that does not
  answer — exit 2 with one line on stderr and no traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers.warehouse import Warehouse, copy_dbt_project
from idstitch.cli import main
from test_scenarios import combined_csvs

BUILD_VARS = {"idstitch__max_links_per_identifier": 10}  # the scenarios' hub limit
VARS_JSON = json.dumps(BUILD_VARS)

# Two accounts (cli_u_a, cli_u_b) that an alias joins between the two runs; and the value "cli_dup", an
# anonymous id of one person and the user id of another.
CLI_ROWS = {
    "identifies": [
        {"id": "cli_id_a", "anonymous_id": "cli_anon_a", "user_id": "cli_u_a", "email": "cli.a@example.com",
         "timestamp": "2024-04-01 10:00:00", "received_at": "2024-04-01 10:00:01"},
        {"id": "cli_id_b", "anonymous_id": "cli_anon_b", "user_id": "cli_u_b",
         "timestamp": "2024-04-01 11:00:00", "received_at": "2024-04-01 11:00:01"},
    ],
    "tracks": [
        {"id": "cli_tr_1", "anonymous_id": "cli_dup", "event": "Viewed", "timestamp": "2024-04-01 12:00:00",
         "received_at": "2024-04-01 12:00:01"},
        {"id": "cli_tr_2", "anonymous_id": "cli_anon_c", "user_id": "cli_dup", "event": "Viewed",
         "timestamp": "2024-04-01 12:05:00", "received_at": "2024-04-01 12:05:01"},
    ],
}
MERGING_ALIAS = {"id": "cli_al_1", "previous_id": "cli_u_a", "user_id": "cli_u_b",
                 "timestamp": "2024-04-02 09:00:00", "received_at": "2024-04-02 09:00:01"}

TRACEBACK = "Traceback"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout ---\n{self.out}\n--- stderr ---\n{self.err}"


def _clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DBT_PROFILES_DIR", "DBT_TARGET", "DBT_TARGET_PATH", "DBT_PROJECT_DIR", "DBT_PROFILE"}}
    env.update({"DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
    env.update(extra or {})
    return env


def cli(*args: str, wh: Warehouse | None = None, env: dict[str, str] | None = None) -> Result:
    """``idstitch <args>`` in this process; with ``wh`` its profiles dir, target path and log path are used."""
    argv = list(args)
    extra = dict(env or {})
    if wh is not None:
        argv += ["--profiles-dir", str(wh.profiles_dir), "--target-path", str(wh.target_path)]
        extra.setdefault("DBT_LOG_PATH", str(wh.log_path))
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        for key in os.environ.keys() - _clean_env(extra).keys():
            mp.delenv(key)
        for key, value in _clean_env(extra).items():
            mp.setenv(key, value)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    return Result(code, out.getvalue(), err.getvalue())


def cli_process(*args: str, wh: Warehouse | None = None, env: dict[str, str] | None = None) -> Result:
    """``idstitch <args>`` as a separate process (the installed console script): real exit codes."""
    argv = list(args)
    extra = dict(env or {})
    if wh is not None:
        argv += ["--profiles-dir", str(wh.profiles_dir), "--target-path", str(wh.target_path)]
        extra.setdefault("DBT_LOG_PATH", str(wh.log_path))
    script = Path(sys.executable).parent / "idstitch"
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "idstitch.cli"]
    proc = subprocess.run([*cmd, *argv], capture_output=True, text=True, env=_clean_env(extra), timeout=600,
                          check=False)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.code == 2, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result
    assert TRACEBACK not in result.err and "error" in lines[0], result
    for fragment in fragments:
        assert fragment in lines[0], result


# ---------------------------------------------------------------------------------------------- the build


@dataclass
class Built:
    wh: Warehouse
    first: Result  # `idstitch run` on the scenarios
    after_first: dict[str, object]  # what the tables said right after it
    second: Result  # `idstitch run` after the alias joining cli_u_a and cli_u_b arrived


def _figures(wh: Warehouse) -> dict[str, object]:
    refusals = wh.relation("identity_refusals")
    return {
        "persons": scalar(wh, f"select count(*) from {wh.relation('dim_person')}"),
        "identified": scalar(wh, f"select count(*) from {wh.relation('dim_person')} where is_identified"),
        "refused": scalar(wh, f"select count(*) from {refusals} where refusal_kind = 'link'"),
        "quarantined": scalar(wh, f"select count(*) from {refusals} where refusal_kind = 'identifier'"),
    }


@pytest.fixture(scope="module")
def built(module_warehouse: Warehouse, tmp_path_factory: pytest.TempPathFactory) -> Built:
    wh = module_warehouse
    wh.load_tables("segment", combined_csvs(tmp_path_factory.mktemp("cli-scenarios")))
    wh.load_tables("segment", CLI_ROWS, append=True)
    first = cli("run", "--vars", VARS_JSON, wh=wh)
    assert first.code == 0, first
    after_first = _figures(wh)
    wh.load_tables("segment", {"aliases": [MERGING_ALIAS]}, append=True)
    second = cli("run", "--vars", VARS_JSON, "--validate", wh=wh)
    assert second.code == 0, second
    return Built(wh, first, after_first, second)


def scalar(wh: Warehouse, sql: str) -> object:
    return wh.query(sql)[0][0]


def person_of(wh: Warehouse, identifier: str, identifier_type: str | None = None) -> str:
    where = f" and identifier_type = '{identifier_type}'" if identifier_type else ""
    rows = wh.query(
        f"select person_id from {wh.relation('person_identifiers')} where identifier = '{identifier}'{where}")
    assert len(rows) == 1, rows
    return str(rows[0][0])


def summary_line(out: str, label: str) -> str:
    lines = [line.strip() for line in out.splitlines() if line.strip().startswith(label)]
    assert len(lines) == 1, out
    return lines[0]


def evidence_chain(out: str) -> list[str]:
    """The identifiers of the evidence path, in order (the lines between the hop bars)."""
    section = out.split("evidence:", 1)[1].splitlines()[1:]
    return [line.split()[1] for line in section if line.strip() and "│" not in line]


# ---------------------------------------------------------------------------------------------- run


def test_run_prints_one_line_per_model_and_a_summary(built: Built) -> None:
    wh, out = built.wh, built.first.out
    assert built.first.err == ""
    models = re.findall(r"^\s+\d+/\d+\s+model\s+(\S+)\s+OK\s+[\d.]+s$", out, flags=re.M)
    assert {"idstitch__dim_person", "idstitch__identity_links", "int_idstitch__user_groups"} <= set(models)
    assert len(models) == len(set(models))
    assert not re.search(r"^\s+\d+/\d+\s+test\s", out, flags=re.M)  # passing tests are counted, not listed
    assert re.search(r"dbt build: \d+ models, 1 seed, \d+ tests · 0 failed, 0 errors, 0 warnings, 0 skipped", out)

    figures = built.after_first
    assert summary_line(out, "persons").startswith(
        f"persons          {figures['persons']}: {figures['identified']} identified")
    closure = summary_line(out, "closure rounds")
    assert "user_groups" in closure and "anonymous_groups" in closure and "(converged)" in closure
    assert summary_line(out, "refused links").startswith(f"refused links    {figures['refused']} (hub_identifier")
    assert summary_line(out, "quarantined").startswith(f"quarantined      {figures['quarantined']} identifiers")
    invocation = re.search(r"summary \(invocation ([0-9a-f-]+)\)", out)
    assert invocation is not None
    births = scalar(wh, f"select count(*) from {wh.relation('person_changes')} "
                        f"where invocation_id = '{invocation.group(1)}' and change_kind = 'birth'")
    assert births and f"{births} new persons" in summary_line(out, "this run")


def test_incremental_run_reports_the_merge(built: Built) -> None:
    wh, out = built.wh, built.second.out
    invocation = re.search(r"summary \(invocation ([0-9a-f-]+)\)", out)
    assert invocation is not None
    changes = dict(wh.query(f"select change_kind, count(*) from {wh.relation('person_changes')} "
                            f"where invocation_id = '{invocation.group(1)}' group by change_kind"))
    assert changes.get("merge") == 1, changes
    assert summary_line(out, "this run").startswith("this run         1 merge, 0 splits")
    # --validate: the checks follow the summary, and are stored
    validation = out.split("\nvalidation\n", 1)[1]
    assert re.search(r"^persons_merged_last_run\s+1\s", validation, flags=re.M), validation
    assert "all 6 limits hold" in validation
    stored = re.search(r"stored as validation (\S+) in ", validation)
    assert stored is not None
    assert scalar(wh, f"select count(*) from {wh.relation('idstitch_validations')} "
                      f"where validation_id = '{stored.group(1)}' and invocation_id = '{invocation.group(1)}'")


def test_run_exit_codes_for_a_failing_test_and_an_impossible_setting(built: Built, tmp_path: Path) -> None:
    project = copy_dbt_project(tmp_path / "project")
    singular_tests = project / "tests" / "dbt"  # test-paths; empty (so absent) in a fresh clone
    singular_tests.mkdir(parents=True, exist_ok=True)
    (singular_tests / "cli_always_fails.sql").write_text("select 1 as failing_row\n")
    failing = cli("run", "--project-dir", str(project), "--select", "cli_always_fails", "--vars", VARS_JSON,
                  wh=built.wh)
    assert failing.code == 1, failing
    assert re.search(r"^\s+\d+/\d+\s+test\s+cli_always_fails\s+FAIL\s", failing.out, flags=re.M), failing
    assert failing.err.strip() == "idstitch run: 1 data test failed: cli_always_fails"

    impossible = cli("run", "--project-dir", str(project), "--select", "cli_always_fails",
                     "--vars", '{"idstitch__max_links_per_identifier": 0}', wh=built.wh)
    assert_one_line_error(impossible, "idstitch__max_links_per_identifier must be a whole number")


# ---------------------------------------------------------------------------------------------- explain


def test_explain_shows_the_alias_chain_hop_by_hop(built: Built) -> None:
    result = cli("explain", "s06_anon_1", "s06_anon_3", wh=built.wh)
    assert result.code == 0, result
    person = person_of(built.wh, "s06_anon_1")
    assert result.out.startswith(f"anonymous_id s06_anon_1 and anonymous_id s06_anon_3 are the SAME person: {person}")
    assert "evidence: 4 hops over accepted links" in result.out
    assert evidence_chain(result.out) == ["s06_anon_1", "s06_u_old", "s06_u_mid", "s06_u_new", "s06_anon_3"]
    hops = [line.strip() for line in result.out.split("evidence:", 1)[1].splitlines() if "│" in line]
    assert hops[1].startswith("│ alias in aliases, message s06_al_1, first seen 2024-03-03 10:00:00")
    assert hops[2].startswith("│ alias in aliases, message s06_al_2, first seen 2024-03-04 11:10:00")
    # all of the person's identifiers are listed, the two asked about marked
    identifiers = [r[0] for r in built.wh.query(
        f"select identifier from {built.wh.relation('person_identifiers')} where person_id = '{person}'")]
    assert len(identifiers) == 8
    for identifier in identifiers:
        assert re.search(rf"^\s+\S+\s+{re.escape(identifier)}\b", result.out, flags=re.M), identifier
    assert re.search(r"s06_anon_3  ◂", result.out)


def test_explain_follows_the_alias_that_arrived_between_runs(built: Built) -> None:
    result = cli("explain", "cli_anon_a", "cli_anon_b", "--json", wh=built.wh)
    assert result.code == 0, result
    report = json.loads(result.out)
    assert report["same_person"] is True
    chain = [report["path"][0]["from"][1]] + [hop["to"][1] for hop in report["path"]]
    assert chain == ["cli_anon_a", "cli_u_a", "cli_u_b", "cli_anon_b"]
    assert report["path"][1]["link"]["first_message_id"] == "cli_al_1"
    assert report["path"][1]["link"]["link_kind"] == "alias"


def test_explain_one_identifier_lists_its_person(built: Built) -> None:
    wh = built.wh
    person = person_of(wh, "pat.s06@example.com")
    # e-mails match whatever their case; the profiles dir may come from DBT_PROFILES_DIR
    result = cli("explain", "PAT.S06@Example.COM", "--target-path", str(wh.target_path),
                 env={"DBT_PROFILES_DIR": str(wh.profiles_dir), "DBT_LOG_PATH": str(wh.log_path)})
    assert result.code == 0, result
    assert result.out.splitlines()[0] == f"email pat.s06@example.com belongs to person {person}"
    assert "customer id   s06_u_new (identified)" in result.out
    assert "identifiers   3 user ids, 3 anonymous ids, 2 e-mails" in result.out


def test_explain_a_value_of_two_types(built: Built) -> None:
    wh = built.wh
    both = cli("explain", "cli_dup", wh=wh)
    assert both.code == 0, both
    anonymous, user = person_of(wh, "cli_dup", "anonymous_id"), person_of(wh, "cli_dup", "user_id")
    assert anonymous != user
    assert both.out.startswith(
        f"'cli_dup' matches 2 identifiers: anonymous_id → person {anonymous}; user_id → person {user}")
    assert f"anonymous_id cli_dup belongs to person {anonymous}" in both.out
    assert f"user_id cli_dup belongs to person {user}" in both.out

    picked = cli("explain", "cli_dup", "--type", "user_id", wh=wh)
    assert picked.code == 0 and picked.out.startswith(f"user_id cli_dup belongs to person {user}"), picked
    ambiguous = cli("explain", "cli_dup", "cli_anon_c", wh=wh)
    assert_one_line_error(ambiguous, "'cli_dup' matches 2 identifiers", "pass --type or write TYPE:VALUE")
    typed = cli("explain", "user_id:cli_dup", "cli_anon_c", wh=wh)
    assert typed.code == 0 and "are the SAME person" in typed.out, typed
    assert evidence_chain(typed.out) == ["cli_dup", "cli_anon_c"]


def test_explain_two_accounts_sharing_an_email(built: Built) -> None:
    wh = built.wh
    result = cli("explain", "s12_u_a", "s12_u_b", wh=wh)
    assert result.code == 0, result
    out = result.out
    assert out.startswith("user_id s12_u_a and user_id s12_u_b are NOT the same person.")
    assert f"user_id s12_u_a belongs to person {person_of(wh, 's12_u_a')}" in out
    assert f"user_id s12_u_b belongs to person {person_of(wh, 's12_u_b')}" in out
    assert ("email family.s12@example.com is linked to both: quarantined (identifier_shared_by_user_ids)"
            in out)
    table = out.split("refused links touching either side (4):", 1)[1].splitlines()[3:]
    assert len(table) == 4
    for line in table:
        assert line.split()[0] == "identifier_shared_by_user_ids"
        assert "email family.s12@example.com" in line and "quarantined" in line
    assert {line.split()[2] for line in table} == {"s12_anon_a", "s12_u_a", "s12_anon_b", "s12_u_b"}


def test_explain_a_quarantined_identifier(built: Built) -> None:
    result = cli("explain", "family.s12@example.com", wh=built.wh)
    assert result.code == 0, result
    assert result.out.startswith(
        "email family.s12@example.com belongs to NO person: quarantined (identifier_shared_by_user_ids)")
    assert "its refused links (4):" in result.out
    assert re.search(r"email family\.s12@example\.com\s+user_id s12_u_b\s+s12_u_b\s+identify", result.out)


def test_explain_unknown_identifier(built: Built) -> None:
    result = cli("explain", "no_such_id", wh=built.wh)
    assert_one_line_error(result, "unknown identifier 'no_such_id'")
    assert result.out == ""
    junk = cli("explain", "undefined", "s06_u_new", wh=built.wh)
    assert_one_line_error(junk, "unknown identifier 'undefined'")


# ---------------------------------------------------------------------------------------------- validate


def _validations(wh: Warehouse) -> list[tuple[object, ...]]:
    if not wh.table_exists("idstitch_validations"):
        return []
    return wh.query(f"select validation_id, check_name, value, threshold, passed "
                    f"from {wh.relation('idstitch_validations')}")


def test_validate_stores_every_check_and_compares_with_the_previous(built: Built) -> None:
    wh = built.wh
    before = len(_validations(wh))
    first = cli("validate", "--json", wh=wh)
    assert first.code == 0, first
    report = json.loads(first.out)
    checks = {c["check"]: c for c in report["checks"]}
    assert report["passed"] is True
    largest = scalar(wh, f"select max(n) from (select count(*) as n from {wh.relation('person_identifiers')} "
                         "group by person_id) as sizes")
    assert checks["largest_person_identifiers"]["value"] == largest
    assert checks["largest_person_identifiers"]["threshold"] == 200
    for name in ("unaliased_multi_user_persons", "junk_identifiers", "events_not_exactly_once", "links_across_persons"):
        assert checks[name]["value"] == 0 and checks[name]["threshold"] == 0 and checks[name]["passed"]
    assert checks["persons_merged_last_run"]["value"] == 1  # the latest run merged cli_u_b into cli_u_a
    assert checks["persons"]["value"] == scalar(wh, f"select count(*) from {wh.relation('dim_person')}")
    assert checks["quarantined_identifiers.identifier_shared_by_user_ids"]["value"] >= 1
    assert checks["refused_links.hub_identifier"]["value"] > 0
    events = scalar(wh, f"select sum(n_events) from {wh.relation('dim_person')}")
    identified = scalar(wh, f"select sum(n_events) from {wh.relation('dim_person')} where is_identified")
    assert checks["identified_event_share"]["value"] == pytest.approx(float(identified) / float(events))

    stored = _validations(wh)
    assert len(stored) == before + len(checks)
    assert {r[1] for r in stored if r[0] == report["validation_id"]} == set(checks)

    second = cli("validate", wh=wh)
    assert second.code == 0, second
    assert len(_validations(wh)) == before + 2 * len(checks)
    assert f"compared with validation {report['validation_id']}" in second.out
    row = summary_line(second.out, "largest_person_identifiers")
    assert row.split()[:6] == ["largest_person_identifiers", str(largest), "≤", "200", str(largest), "0"], row
    assert second.out.splitlines()[0].startswith(f"idstitch validate · target {wh.target} (")


def test_validate_breaching_a_limit_exits_1(built: Built) -> None:
    wh = built.wh
    largest = scalar(wh, f"select max(n) from (select count(*) as n from {wh.relation('person_identifiers')} "
                         "group by person_id) as sizes")
    limit = int(largest) - 1  # type: ignore[call-overload]
    result = cli("validate", "--thresholds", json.dumps({"largest_person_identifiers": limit}), wh=wh)
    assert result.code == 1, result
    row = summary_line(result.out, "largest_person_identifiers")
    assert f"≤ {limit}" in row and "FAIL" in row
    assert f"FAILED  largest_person_identifiers = {largest}, limit ≤ {limit}" in result.out
    assert result.err.strip() == f"idstitch validate: 1 check failed: largest_person_identifiers {largest} > {limit}"
    stored = [r for r in _validations(wh) if r[1] == "largest_person_identifiers" and r[3] == limit]
    assert stored and stored[-1][4] is False

    # the same through the console script: a real process exit code
    process = cli_process("validate", "--no-store", "--thresholds", '{"identified_event_share": 1.0}', wh=wh)
    assert process.code == 1, process
    assert "identified_event_share" in process.err and TRACEBACK not in process.err


# ---------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["run", "--vars", "{not json"], "--vars is not valid JSON"),
        (["run", "--vars", "[1, 2]"], "--vars must be a JSON object"),
        (["validate", "--thresholds", "{'largest_person_identifiers': 5}"], "--thresholds is not valid JSON"),
        (["validate", "--thresholds", '{"largest_person": 5}'], "unknown check 'largest_person'"),
        (["validate", "--thresholds", '{"persons": "many"}'], "must be a number or null"),
        (["run", "--thresholds", '{"persons": 5}'], "--thresholds applies to --validate"),
        (["explain"], "the following arguments are required: ID"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv: list[str], fragment: str) -> None:
    assert_one_line_error(cli(*argv), fragment)


def test_bad_json_through_the_console_script() -> None:
    result = cli_process("run", "--vars", '{"idstitch__max_links_per_identifier": 20')
    assert_one_line_error(result, "idstitch run: error: --vars is not valid JSON")
    assert result.out == ""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_database_exits_2(tmp_path: Path) -> None:
    port = _closed_port()
    profile = {"idstitch": {"target": "prod", "outputs": {"prod": {
        "type": "postgres", "host": "127.0.0.1", "port": port, "user": "nobody", "password": "",
        "dbname": "analytics", "schema": "analytics", "threads": 1, "connect_timeout": 5}}}}
    (tmp_path / "profiles.yml").write_text(json.dumps(profile))
    env = {"DBT_LOG_PATH": str(tmp_path / "logs")}
    where = ["--profiles-dir", str(tmp_path), "--target-path", str(tmp_path / "target")]
    for argv in (["validate"], ["explain", "s06_u_new"]):
        result = cli(*argv, *where, env=env)
        assert_one_line_error(result, f"cannot connect to postgres nobody@127.0.0.1:{port}/analytics",
                              "Connection refused")
    run = cli_process("run", *where, env=env)
    assert_one_line_error(run, "idstitch run: error:", f'port {port} failed: Connection refused')


def test_missing_profile_target_or_tables_exit_2(tmp_path: Path, duckdb_warehouse: Warehouse) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(cli("validate", "--profiles-dir", str(empty)), f"no profiles.yml in {empty}")
    assert_one_line_error(cli("explain", "x", "--profiles-dir", str(tmp_path / "nowhere")), "no profiles.yml")
    wh = duckdb_warehouse
    assert_one_line_error(cli("validate", "--target", "prod", wh=wh), "does not have a target named 'prod'")
    assert_one_line_error(cli("validate", wh=wh), "no DuckDB database at", "run `idstitch run` first")
    wh.load_tables("segment", {"tracks": [{"id": "m1", "anonymous_id": "a1", "timestamp": "2024-01-01 10:00"}]})
    assert_one_line_error(cli("explain", "a1", wh=wh), "main.dim_person", "not found", "run `idstitch run`")
    assert_one_line_error(cli("run", "--project-dir", str(tmp_path), wh=wh), f"no dbt_project.yml in {tmp_path}")


def test_locations_follow_dbt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers.warehouse import REPO_ROOT
    from idstitch.runner import DbtContext

    for name in ("DBT_PROJECT_DIR", "DBT_PROFILES_DIR", "DBT_TARGET", "DBT_TARGET_PATH", "DBT_LOG_PATH"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "profiles.yml").write_text("{}")
    monkeypatch.chdir(tmp_path)
    ctx = DbtContext.resolve()  # the repository, ./profiles.yml, the project's target/ and logs/
    assert (ctx.project_dir, ctx.profiles_dir, ctx.target) == (REPO_ROOT, tmp_path, None)
    assert (ctx.target_path, ctx.log_path) == (REPO_ROOT / "target", REPO_ROOT / "logs")
    # paths given by the user are relative to where they stand; env vars count as given
    monkeypatch.setenv("DBT_TARGET", "prod")
    monkeypatch.setenv("DBT_LOG_PATH", "dbt-logs")
    ctx = DbtContext.resolve(target_path="artifacts")
    assert (ctx.target, ctx.target_path, ctx.log_path) == ("prod", tmp_path / "artifacts", tmp_path / "dbt-logs")
    assert ctx.dbt_args()[-4:] == ["--log-path", str(tmp_path / "dbt-logs"), "--target", "prod"]


# ---------------------------------------------------------------------------------------------- help


@pytest.mark.parametrize(
    ("command", "fragments"),
    [
        ("run", ["--full-refresh", "--vars JSON", "--select", "closure rounds", "person_changes"]),
        ("validate", ["--thresholds JSON", "largest_person_identifiers", "idstitch_validations", "limit ≤ 200"]),
        ("explain", ["OTHER_ID", "--type TYPE", "shortest", "refused links", "TYPE:VALUE"]),
    ],
)
def test_help_reads_like_documentation(command: str, fragments: list[str]) -> None:
    result = cli(command, "--help")
    assert result.code == 0 and result.err == ""
    for fragment in [*fragments, "examples:", f"idstitch {command}", "exit codes:", "--profiles-dir",
                     "--project-dir", "--target", "DBT_PROFILES_DIR"]:
        assert fragment in result.out, (command, fragment)
