"""The ``idstitch`` command line.

    idstitch run [--full-refresh] [--vars JSON] [--select ...] [--validate]   dbt build, progress, summary
    idstitch validate [--json] [--thresholds JSON]                             the merge checks, stored
    idstitch explain ID [OTHER_ID] [--type TYPE]                               which person, and why
    idstitch diff --vars JSON [--base-vars JSON] [--json]                      what a config change would do
    idstitch report [--out DIR] [--show-identifiers]                            one HTML page of charts
    idstitch demo --persons 1000 --out demo/csv [--duckdb demo/demo.duckdb --schema segment]
    idstitch quality --duckdb demo/demo.duckdb --source-schema segment --output-schema main

Exit codes: 0 ok, 1 a data test or a validation check failed, 2 an error (one line on stderr, no
traceback: bad input, no profile, database unreachable, tables missing, compile error).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .errors import IdstitchError, json_object_arg, one_line
from .textfmt import plural

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2

EXIT_CODES_HELP = """exit codes:
  0  everything passed
  1  a data test failed, or a validation check breached its limit
  2  an error: bad arguments, no profile, database unreachable, tables missing, dbt compile/run error
     (one line on stderr naming the problem)"""

LOCATION_HELP = """where idstitch looks (the same rules as dbt):
  project     --project-dir, $DBT_PROJECT_DIR, else the idstitch repository this CLI was installed from
  profile     --profiles-dir, $DBT_PROFILES_DIR, ./profiles.yml, else ~/.dbt/profiles.yml
  target      --target, $DBT_TARGET, else the profile's default target
  artifacts   --target-path, $DBT_TARGET_PATH, else <project>/target (run_results.json, manifest.json)"""


class UsageError(IdstitchError):
    """Bad command-line input (already formatted as ``idstitch <cmd>: error: ...``)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: error: {message}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _add_dbt_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("dbt project and warehouse (as dbt's own flags)")
    group.add_argument("--project-dir", metavar="DIR",
                       help="the dbt project (default: $DBT_PROJECT_DIR, else the idstitch repository)")
    group.add_argument("--profiles-dir", metavar="DIR",
                       help="directory holding profiles.yml (default: $DBT_PROFILES_DIR, ./, ~/.dbt)")
    group.add_argument("--target", "-t", metavar="NAME",
                       help="profile target (default: $DBT_TARGET, else the profile's default)")
    group.add_argument("--target-path", metavar="DIR",
                       help="dbt artifacts directory (default: $DBT_TARGET_PATH, else <project>/target)")


def _subparser(sub: Any, name: str, help_text: str, description: str, epilog: str) -> argparse.ArgumentParser:
    return sub.add_parser(
        name, help=help_text, description=description, epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


RUN_DESCRIPTION = """\
Build the identity graph: `dbt build` of the idstitch project (models, seeds and every data test), one
progress line per finished model, then what the run did:

  closure rounds   rounds of each closure this run (closure_runs)
  persons          persons in dim_person, identified and anonymous
  events           share of events attributed to an identified person
  this run         merges, splits, new persons, re-anchored and quarantined persons (person_changes)
  refused links    links a guard refused, by reason; quarantined identifiers (identity_refusals)

Plain runs are incremental; --full-refresh rebuilds everything (person_changes is kept). dbt's own output
is not shown: its full debug log is in the log path (logs/dbt.log).

One run per target at a time: the run holds a lock for the build (Postgres: a session lock, dropped if
this process dies; DuckDB: the database file), and a second run exits 2 naming the first. A run that was
killed or lost its database is taken over by the next one: no full refresh needed."""

RUN_EPILOG = f"""\
examples:
  idstitch run
  idstitch run --target prod --vars '{{"idstitch__max_links_per_identifier": 20}}'
  idstitch run --full-refresh
  idstitch run --select +idstitch__dim_person          # dbt node selection
  idstitch run --validate --thresholds '{{"largest_person_identifiers": 500}}'

{EXIT_CODES_HELP}

{LOCATION_HELP}"""

VALIDATE_DESCRIPTION = """\
Check the merge invariants and the size of the largest persons on the tables of the latest run, as one
table with each check's value, its limit, the value of the previous validation and the change:

  largest_person_identifiers     identifiers of the largest person               limit ≤ 200
  largest_person_anonymous_ids   anonymous ids of the largest person             limit ≤ 100
  unaliased_multi_user_persons   persons with user ids no alias joins            limit ≤ 0
  junk_identifiers               junk values present in the graph                limit ≤ 0
  events_not_exactly_once        source messages missing or doubled in facts     limit ≤ 0
  links_across_persons           accepted links joining two persons              limit ≤ 0
  identified_event_share         events attributed to an identified person       (no limit)
  persons                        persons in dim_person                           (no limit)
  persons_merged_last_run        merges of the latest run (person_changes)       (no limit)
  persons_split_last_run         splits of the latest run                        (no limit)
  refused_links[.<reason>]       refused links, in total and by reason           (no limit)
  quarantined_identifiers[.<r>]  quarantined identifiers (hubs, shared ids)      (no limit)

Limits on counts are maxima, the limit on identified_event_share a minimum. Every validation is appended
to the table idstitch_validations (next to dim_person: validated_at, validation_id, invocation_id,
check_name, value, threshold, passed, detail), so trends can be charted and each run is compared with
the previous one."""

VALIDATE_EPILOG = f"""\
examples:
  idstitch validate
  idstitch validate --thresholds '{{"largest_person_identifiers": 500, "identified_event_share": 0.4}}'
  idstitch validate --thresholds '{{"refused_links.hub_identifier": 1000, "persons_merged_last_run": null}}'
  idstitch validate --json | jq '.checks[] | select(.passed | not)'

{EXIT_CODES_HELP}

{LOCATION_HELP}"""

EXPLAIN_DESCRIPTION = """\
Explain an identifier: which person it belongs to and all of that person's identifiers. With a second
identifier: whether both are the same person and the evidence — a shortest chain of accepted links
between them, each hop with its link kind, source table, first message id and first time seen. When
they are different persons: each one's person, and the refused links that would have joined them,
with the guard that refused each (hub, identifier shared by user ids, ...).

Identifiers match exactly (e-mails ignore case). A value that is several types at once (a user id that
is also an anonymous id) lists every match; pick one with --type or TYPE:VALUE (user_id:42)."""

EXPLAIN_EPILOG = f"""\
examples:
  idstitch explain 5f2c-anon-id
  idstitch explain jane@example.com --type email
  idstitch explain user_id:42 anonymous_id:5f2c-anon-id
  idstitch explain u_123 u_456 --json

exit codes:
  0  explained (whether or not the two identifiers are one person)
  2  an error: unknown identifier, a value of several types without --type, no profile, database
     unreachable, tables missing (one line on stderr naming the problem)

{LOCATION_HELP}"""

DIFF_DESCRIPTION = """\
What a configuration change would do, before you apply it: build the package with the proposed vars (the
current vars, --base-vars, plus the changes in --vars) into a SCRATCH schema of the same database, compare
it with the production tables there, and drop the scratch schema again. Production tables and dbt
artifacts are never written.

  persons    merged: proposed persons that join several current persons
             split: current persons whose identifiers fall apart into several proposed persons
             re-anchored: same grouping under a new person id (its anchor identifier left)
             changed: same person id, identifiers gained or lost; unchanged
  identifiers leaving the graph (quarantined, no longer an identifier) and joining it, by type
  events     events changing owner (person_id differs), by source table and by attribution method
             (now → proposed)
  examples   the largest merges and splits, one identifier per part and the `idstitch explain` command
             that shows what joins (or separates) them today

The scratch build is `dbt build --full-refresh` into <target schema>_idstitch_diff (and its
_idstitch_internal companion), with a temporary profiles.yml that copies the target's entry and replaces
only its schema; its artifacts go to a temporary directory. Data tests are skipped for speed unless
--run-tests is given. Persons are matched on (identifier_type, identifier) of person_identifiers, events
on message_id; person ids are deterministic (md5 of the anchor identifier), so an unchanged person keeps
its id. If production runs with vars, pass them as --base-vars: settings the stored tables record
(sources, traits) are checked and a mismatch is reported."""

DIFF_EPILOG = f"""\
examples:
  idstitch diff --vars '{{"idstitch__max_links_per_identifier": 20}}'
  idstitch diff --vars '{{"idstitch__identifier_traits": ["email", "phone"]}}'
  idstitch diff --vars '{{"idstitch__shared_device_unidentified": "device"}}' --target prod
  idstitch diff --base-vars '{{"idstitch__max_links_per_identifier": 10}}' \\
                --vars '{{"idstitch__session_gap_minutes": 60}}' --json | jq .persons
  idstitch diff --vars '{{"idstitch__max_links_per_identifier": 5}}' --keep-scratch --examples 10

exit codes:
  0  the diff was printed
  1  with --run-tests: a data test failed on the proposal (the diff is printed as well)
  2  an error: bad JSON, no production build yet, database unreachable, the proposed vars do not
     compile (one line on stderr naming the problem)

{LOCATION_HELP}"""


REPORT_DESCRIPTION = """\
Write a self-contained HTML report of the identity graph: one file, DIR/index.html, with charts drawn as
inline SVG and a table of the numbers under each chart. It needs no network, no script and no plugin: mail
it, attach it to a ticket or open it offline.

  headline            persons (identified, anonymous), events attributed to identified persons, refused
                      links and quarantined identifiers, the latest run
  identifiers         persons by number of identifiers (dim_person, person_identifiers)
  attribution         events per month by attribution method (fct_tracks, fct_pages, fct_identifies)
  tracked users       monthly tracked users before stitching (distinct raw ids: an event's user id, else
                      its anonymous id) and after (distinct persons)
  refused links       refused links and quarantined identifiers by reason (identity_refusals)
  closure             closure rounds per run, the latest 30 runs (closure_runs)
  largest persons     the 10 persons with the most identifiers, by person id
  quarantined         the 10 quarantined identifiers with the most messages: type, reason, messages

The page is meant to be passed around, so it shows no identifier value: no user id, no e-mail, no
anonymous id (its header says so). --show-identifiers adds the largest persons' customer ids and the
quarantined identifiers' values, to look up with `idstitch explain`; the page then holds user ids and
e-mails, raw unless idstitch__personal_columns hashes them, and says so at the top.

Everything is counted in the warehouse (GROUP BY, the same SQL on DuckDB and Postgres); monthly charts
show the latest 36 months. Nothing is written to the warehouse."""

REPORT_EPILOG = f"""\
examples:
  idstitch report                                   # writes idstitch_report/index.html
  idstitch report --out /srv/www/idstitch --target prod
  idstitch report --show-identifiers --out private/ # with user ids and e-mails
  DBT_PROFILES_DIR=/etc/idstitch idstitch report --out "reports/$(date +%F)"

exit codes:
  0  the report was written
  2  an error: no profile, database unreachable, tables missing (no `idstitch run` yet), --out not a
     writable directory (one line on stderr naming the problem)

{LOCATION_HELP}"""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="idstitch",
        description="Identity stitching for Segment-style event tables: build, validate, explain and report on the "
                    "identity graph of the idstitch dbt package.",
        epilog=f"run `idstitch COMMAND --help` for a command's options and examples.\n\n{EXIT_CODES_HELP}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"idstitch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = _subparser(sub, "run", "dbt build with progress and a summary of merges, splits and refusals",
                     RUN_DESCRIPTION, RUN_EPILOG)
    run.add_argument("--full-refresh", action="store_true",
                     help="rebuild every incremental table from scratch (person_changes is kept)")
    run.add_argument("--vars", metavar="JSON",
                     help='dbt vars as a JSON object, e.g. \'{"idstitch__max_links_per_identifier": 20}\'')
    run.add_argument("--select", "-s", nargs="+", metavar="SELECTOR", help="build only these dbt nodes")
    run.add_argument("--exclude", nargs="+", metavar="SELECTOR", help="leave these dbt nodes out")
    run.add_argument("--validate", action="store_true", help="after the build, run `idstitch validate` (stored)")
    run.add_argument("--thresholds", metavar="JSON", help="limits for --validate (see `idstitch validate --help`)")
    run.add_argument("--verbose", "-v", action="store_true",
                     help="also list passing data tests and skipped nodes (otherwise only counted)")
    _add_dbt_options(run)

    validate = _subparser(sub, "validate", "check merge invariants and sizes; store the results for trends",
                          VALIDATE_DESCRIPTION, VALIDATE_EPILOG)
    validate.add_argument("--thresholds", metavar="JSON",
                          help='limits as a JSON object {check: number or null}, merged over the defaults')
    validate.add_argument("--json", action="store_true", help="print the validation as JSON")
    validate.add_argument("--no-store", action="store_true", help="do not append to idstitch_validations")
    _add_dbt_options(validate)

    explain = _subparser(sub, "explain", "which person an identifier belongs to; the evidence joining two",
                         EXPLAIN_DESCRIPTION, EXPLAIN_EPILOG)
    explain.add_argument("identifier", metavar="ID", help="an identifier value (or TYPE:VALUE)")
    explain.add_argument("other", metavar="OTHER_ID", nargs="?", help="a second identifier: explain the pair")
    explain.add_argument("--type", dest="identifier_type", metavar="TYPE",
                         help="the identifier type: user_id, anonymous_id, email (or another identifier trait)")
    explain.add_argument("--limit", type=_positive_int, default=50,
                         help="at most this many identifiers / refused links per list (default 50)")
    explain.add_argument("--json", action="store_true", help="print the explanation as JSON")
    _add_dbt_options(explain)

    diff = _subparser(sub, "diff", "what a change of vars would merge, split and move, before applying it",
                      DIFF_DESCRIPTION, DIFF_EPILOG)
    diff.add_argument("--vars", metavar="JSON", required=True,
                      help="the proposed changes, as a JSON object of dbt vars (merged over --base-vars)")
    diff.add_argument("--base-vars", metavar="JSON",
                      help="the vars production is built with (as given to `idstitch run --vars`), if any")
    diff.add_argument("--scratch-schema", metavar="SCHEMA",
                      help="schema for the scratch build (default: <target schema>_idstitch_diff)")
    diff.add_argument("--keep-scratch", action="store_true",
                      help="keep the scratch schemas for inspection instead of dropping them")
    diff.add_argument("--run-tests", action="store_true",
                      help="also run the data tests on the proposal and report failures (slower)")
    diff.add_argument("--examples", type=int, default=5, metavar="N",
                      help="list the N largest merges and splits (default 5; 0 for none)")
    diff.add_argument("--json", action="store_true", help="print the diff as JSON")
    diff.add_argument("--verbose", "-v", action="store_true", help="one line per model of the scratch build")
    _add_dbt_options(diff)

    html = _subparser(sub, "report", "a self-contained HTML page of charts: persons, attribution, refusals, rounds",
                      REPORT_DESCRIPTION, REPORT_EPILOG)
    html.add_argument("--out", metavar="DIR", type=Path, default=Path("idstitch_report"),
                      help="directory to write index.html into, created if needed (default: idstitch_report)")
    html.add_argument("--show-identifiers", action="store_true",
                      help="include identifier values (customer ids, quarantined identifiers): the page then "
                           "contains user ids and e-mails (raw unless idstitch__personal_columns hashes them)")
    _add_dbt_options(html)

    demo = sub.add_parser("demo", help="generate the synthetic demo data set (with ground truth)",
                          description="Write tracks, pages, identifies, aliases and truth as CSV files, "
                                      "optionally loading them into a DuckDB file.")
    demo.add_argument("--persons", type=_positive_int, default=1000, help="true persons (default 1000)")
    demo.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    demo.add_argument("--days", type=_positive_int, default=90, help="days of traffic (default 90)")
    demo.add_argument("--out", required=True, type=Path, help="directory for the CSV files")
    demo.add_argument("--duckdb", type=Path, help="also load the CSV files into this DuckDB file")
    demo.add_argument("--schema", default="segment", help="schema for --duckdb (default segment)")

    quality = sub.add_parser("quality", help="score stitching against the demo data's ground truth",
                             description="Pairwise precision / recall / F1 over messages for idstitch, "
                                         "the one-hop baseline and the best achievable.")
    quality.add_argument("--duckdb", required=True, type=Path, help="DuckDB file holding both schemas")
    quality.add_argument("--source-schema", default="segment", help="raw tables + truth (default segment)")
    quality.add_argument("--output-schema", default="main", help="idstitch's output tables (default main)")
    quality.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser


# ---------------------------------------------------------------------------------------------- helpers


def _json_object(text: str | None, flag: str) -> dict[str, Any] | None:
    return None if text is None else json_object_arg(text, flag)


def _context(args: argparse.Namespace) -> Any:
    from .runner import DbtContext

    return DbtContext.resolve(args.project_dir, args.profiles_dir, args.target, args.target_path)


def _open(args: argparse.Namespace, read_only: bool = True) -> tuple[Any, Any, Any]:
    """(context, database, relations) for the target the options name."""
    from .db import Database, Relations
    from .runner import load_connection

    ctx = _context(args)
    conn = load_connection(ctx)
    db = Database(conn, read_only=read_only)
    return ctx, db, Relations.resolve(ctx, conn)


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- run

_STATUS_LABELS = {
    "success": "OK", "pass": "PASS", "fail": "FAIL", "warn": "WARN", "error": "ERROR",
    "skipped": "SKIP", "no-op": "NO-OP", "runtime error": "ERROR", "partial success": "PARTIAL",
}


class _Progress:
    """Prints one line per finished node from dbt's events (worker threads: one lock)."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self.total = 0
        self.done = 0
        self.built = 0  # models and seeds that succeeded
        self.lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        name = event.info.name
        if name == "LogStartLine" and not self.total:
            self.total = int(getattr(event.data, "total", 0) or 0)
            return
        if name != "NodeFinished":
            return
        info = event.data.node_info
        result = event.data.run_result
        resource_type = str(info.resource_type)
        if resource_type == "operation":  # on-run-start hooks
            return
        status = str(result.status or info.node_status)
        with self.lock:
            self.done += 1
            if resource_type in ("model", "seed") and status == "success":
                self.built += 1
            quiet = status == "skipped" or (resource_type in ("test", "unit_test") and status == "pass")
            if quiet and not self.verbose:  # counted in the closing line
                return
            width = len(str(self.total or 999))
            counter = f"{self.done:>{width}}/{self.total}" if self.total else f"{self.done:>4}"
            label = _STATUS_LABELS.get(status, status.upper())
            seconds = float(result.execution_time or 0)
            line = f"  {counter}  {resource_type:<5}  {info.node_name:<44} {label:<5} {seconds:7.2f}s"
            print(line, flush=True)
            if status in ("error", "fail", "warn", "runtime error") and result.message:
                print(f"  {'':>{len(counter)}}  ↳ {one_line(result.message, 300)}", flush=True)


def _cmd_run(args: argparse.Namespace) -> int:
    from . import report, runlock
    from .db import Database, Relations
    from .runner import invoke_dbt, load_connection, temporary_environment

    cli_vars = _json_object(args.vars, "--vars") or {}
    thresholds = report.parse_thresholds(args.thresholds) if args.validate else None
    if args.thresholds and not args.validate:
        raise IdstitchError("--thresholds applies to --validate: add --validate")
    ctx = _context(args)
    conn = load_connection(ctx, cli_vars)
    dbt_args: list[str] = []
    if args.full_refresh:
        dbt_args.append("--full-refresh")
    if args.select:
        dbt_args += ["--select", *args.select]
    if args.exclude:
        dbt_args += ["--exclude", *args.exclude]
    mode = "full refresh" if args.full_refresh else "incremental"
    print(f"idstitch run · target {conn.target_name} ({conn.describe()}) · {mode}", flush=True)
    print(f"project {ctx.project_dir}", flush=True)
    started = time.monotonic()
    progress = _Progress(args.verbose)
    # the run lock, held for the build (runlock.py): a second run stops here, naming this one
    with runlock.held(conn) as lock, temporary_environment(lock.env):
        result = invoke_dbt(ctx, "build", dbt_args, cli_vars, on_event=progress)
    elapsed = time.monotonic() - started
    log_hint = f"(dbt log: {ctx.log_path / 'dbt.log'})"
    if result.exception is not None:
        # stopped half-way (the warehouse went away ...): what was built stays, the next run takes over
        where = f"the build stopped part-way ({progress.built} models built): " if progress.built else ""
        _err(f"idstitch run: error: {where}{one_line(result.exception)} {log_hint}")
        return EXIT_ERROR

    nodes = [n for n in result.nodes if n.resource_type != "operation"]
    errors = [n for n in result.nodes if n.status in ("error", "runtime error")]
    failed_tests = [n for n in nodes if n.resource_type in ("test", "unit_test") and n.status == "fail"]
    warned = [n for n in nodes if n.status == "warn"]
    skipped = [n for n in nodes if n.status == "skipped"]
    kinds: dict[str, int] = {}
    for n in nodes:
        kinds[n.resource_type] = kinds.get(n.resource_type, 0) + 1
    built = ", ".join(f"{count} {kind}{'s' if count != 1 else ''}" for kind, count in sorted(kinds.items()))
    print("", flush=True)
    print(f"dbt build: {built or 'nothing selected'} · {len(failed_tests)} failed, "
          f"{plural(len(errors), 'error')}, {plural(len(warned), 'warning')}, {len(skipped)} skipped · "
          f"{elapsed:.1f}s", flush=True)

    if errors:
        code = EXIT_ERROR
    elif failed_tests:
        code = EXIT_FAILED
    elif not result.success:
        code = EXIT_ERROR
    else:
        code = EXIT_OK

    if not errors:  # after an error the tables may be half old, half new: no summary
        try:
            with Database(conn, read_only=True) as db:
                rels = Relations.resolve(ctx, conn)
                summary = report.run_summary(db, rels, result.invocation_id)
            print("", flush=True)
            print(f"summary (invocation {result.invocation_id})", flush=True)
            print("\n".join("  " + line for line in report.format_run_summary(summary).splitlines()), flush=True)
        except IdstitchError as exc:
            print(f"\nsummary unavailable: {one_line(exc)}", flush=True)

    if errors:
        first = errors[0]
        _err(f"idstitch run: error: {len(errors)} node{'s' if len(errors) != 1 else ''} failed, first "
             f"{first.resource_type} {first.name}: {one_line(first.message, 300)} {log_hint}")
    elif failed_tests:
        names = ", ".join(n.name for n in failed_tests[:5]) + (", …" if len(failed_tests) > 5 else "")
        _err(f"idstitch run: {len(failed_tests)} data test{'s' if len(failed_tests) != 1 else ''} failed: {names}")
    elif code == EXIT_ERROR:
        _err(f"idstitch run: error: dbt build did not succeed {log_hint}")

    if args.validate and code != EXIT_ERROR:
        with Database(conn, read_only=False) as db:
            rels = Relations.resolve(ctx, conn)
            validation = report.validate(db, rels, thresholds or {})
        print("\nvalidation", flush=True)
        print(report.format_validation(validation), flush=True)
        if validation.failed:
            _err(f"idstitch run: validation: {report.failure_line(validation)}")
            code = max(code, EXIT_FAILED)
    return code


# ---------------------------------------------------------------------------------------------- validate


def _cmd_validate(args: argparse.Namespace) -> int:
    from . import report

    thresholds = report.parse_thresholds(args.thresholds)
    _, db, rels = _open(args, read_only=args.no_store)
    with db:
        validation = report.validate(db, rels, thresholds, store=not args.no_store)
    if args.json:
        print(json.dumps(validation.to_json(), indent=2, default=str))
    else:
        run = (f"run {validation.invocation_id} of {validation.run_started_at:%Y-%m-%d %H:%M:%S}"
               if validation.invocation_id and validation.run_started_at is not None else "no run recorded")
        print(f"idstitch validate · target {db.conn.target_name} ({db.conn.describe()}) · {run}")
        print("")
        print(report.format_validation(validation))
    if validation.failed:
        _err(f"idstitch validate: {report.failure_line(validation)}")
        return EXIT_FAILED
    return EXIT_OK


# ---------------------------------------------------------------------------------------------- explain


def _cmd_explain(args: argparse.Namespace) -> int:
    from . import explain

    _, db, rels = _open(args)
    with db:
        result = explain.explain(db, rels, args.identifier, args.other, args.identifier_type, args.limit)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(explain.format_explain(result, args.limit))
    return EXIT_OK


# ---------------------------------------------------------------------------------------------- diff


def _cmd_diff(args: argparse.Namespace) -> int:
    import shutil

    from . import diff
    from .db import Database, Relations
    from .runner import invoke_dbt, load_connection

    changes = _json_object(args.vars, "--vars") or {}
    base = _json_object(args.base_vars, "--base-vars") or {}
    if not changes:
        raise IdstitchError("--vars names no change: give the vars to try, e.g. "
                            "'{\"idstitch__max_links_per_identifier\": 20}'")
    if args.examples < 0:
        raise IdstitchError(f"--examples must be 0 or more, got {args.examples}")
    proposed_vars = {**base, **changes}
    say = (lambda text: None) if args.json else (lambda text: print(text, flush=True))

    ctx = _context(args)
    conn = load_connection(ctx, base)
    current = Relations.resolve(ctx, conn)
    with Database(conn, read_only=True) as db:
        db.require(current, (*diff.COMPARED_TABLES, "fct_tracks", "fct_identifies"))
    schema = args.scratch_schema or f"{conn.schema}{diff.SCRATCH_SUFFIX}"
    production = diff.production_schemas(ctx, conn, current)
    scratch = diff.scratch_context(ctx, conn, schema)
    built = False
    try:
        # parse first: the schemas the scratch build would write to, checked before anything is written
        parsed = invoke_dbt(scratch.ctx, "parse", [], proposed_vars)
        if parsed.exception is not None or not parsed.success:
            raise IdstitchError(f"the proposed vars do not compile: {one_line(parsed.exception or 'dbt parse failed')}")
        planned = diff.manifest_schemas(scratch.ctx.target_path)
        scratch.schemas = sorted(planned)
        if not scratch.schemas:
            raise IdstitchError("the scratch build has no models: is --project-dir the idstitch project?")
        diff.check_disjoint(scratch, production)
        with Database(conn, read_only=False) as db:
            diff.clear_leftovers(db, scratch, planned)

        tests = "with data tests" if args.run_tests else "data tests skipped: --run-tests runs them"
        say(f"idstitch diff · target {conn.target_name} ({conn.describe()}) · production schema {conn.schema}")
        say(f"proposed vars {json.dumps(changes)}" + (f" over {json.dumps(base)}" if base else ""))
        say(f"building the proposal into {', '.join(scratch.schemas)} (dbt build --full-refresh; {tests}) …")
        dbt_args = ["--full-refresh"]
        if not args.run_tests:
            dbt_args += ["--exclude", "resource_type:test", "resource_type:unit_test"]
        started = time.monotonic()
        built = True
        result = invoke_dbt(scratch.ctx, "build", dbt_args, proposed_vars,
                            on_event=_Progress(True) if args.verbose and not args.json else None)
        elapsed = time.monotonic() - started
        log_hint = f"(dbt log: {scratch.ctx.log_path / 'dbt.log'})"
        if result.exception is not None:
            raise IdstitchError(f"scratch build failed: {one_line(result.exception)} {log_hint}")
        errors = [n for n in result.nodes if n.status in ("error", "runtime error")]
        if errors:
            first = errors[0]
            raise IdstitchError(f"scratch build failed: {first.resource_type} {first.name}: "
                                f"{one_line(first.message, 300)} {log_hint}")
        failed_tests = [n for n in result.nodes if n.resource_type in ("test", "unit_test") and n.status == "fail"]
        skipped_models = [n for n in result.nodes if n.resource_type == "model" and n.status == "skipped"]
        if skipped_models:
            raise IdstitchError(f"scratch build skipped {plural(len(skipped_models), 'model')} after failing "
                                f"tests ({', '.join(n.name for n in failed_tests[:3])}): no complete proposal to "
                                f"compare {log_hint}")
        models = sum(1 for n in result.nodes if n.resource_type == "model")
        say(f"scratch build: {plural(models, 'model')}"
            + (f", {plural(len(failed_tests), 'failed data test')}" if args.run_tests else "")
            + f" in {elapsed:.1f}s")

        proposed = Relations.resolve(scratch.ctx, load_connection(scratch.ctx, proposed_vars))
        with Database(conn, read_only=False) as db:
            persons = diff.compare_persons(db, current, proposed, args.examples)
            events = diff.compare_events(db, current, proposed)
            mismatches = diff.run_config_differences(
                db, diff.model_relation(ctx.target_path, conn, diff.RUN_CONFIG_MODEL),
                diff.model_relation(scratch.ctx.target_path, conn, diff.RUN_CONFIG_MODEL), changes)
            if not args.keep_scratch:
                diff.drop_schemas(db, scratch.schemas)
                built = False
    except BaseException:
        if built and not args.keep_scratch:  # leave no half-built scratch behind
            try:
                with Database(conn, read_only=False) as db:
                    diff.drop_schemas(db, scratch.schemas)
            except Exception:
                pass
        raise
    finally:
        if args.keep_scratch:
            shutil.rmtree(scratch.directory / "target", ignore_errors=True)
        scratch.cleanup()

    report = {
        "target": conn.target_name,
        "production_schema": conn.schema,
        "scratch_schemas": scratch.schemas,
        "scratch_kept": bool(args.keep_scratch),
        "base_vars": base,
        "proposed_changes": changes,
        "data_tests": ({"run": True, "failed": [n.name for n in failed_tests]} if args.run_tests
                       else {"run": False, "failed": []}),
        "base_mismatches": mismatches,
        "persons": persons,
        "events": events,
    }
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print("", flush=True)
        for m in mismatches:
            print(f"warning: production was built with {m['setting']} = {m['production']}, the base vars give "
                  f"{m['base']}: pass production's vars as --base-vars", flush=True)
        print(diff.format_diff(report), flush=True)
        if failed_tests:
            names = ", ".join(n.name for n in failed_tests[:5]) + (", …" if len(failed_tests) > 5 else "")
            print(f"\ndata tests failing on the proposal: {names}", flush=True)
        print("\n" + (f"scratch schemas kept: {', '.join(scratch.schemas)}" if args.keep_scratch
                      else f"scratch schemas dropped: {', '.join(scratch.schemas)}"), flush=True)
    if failed_tests:
        _err(f"idstitch diff: {plural(len(failed_tests), 'data test')} failed on the proposal: "
             + ", ".join(n.name for n in failed_tests[:5]))
        return EXIT_FAILED
    return EXIT_OK


# ---------------------------------------------------------------------------------------------- report


def _cmd_report(args: argparse.Namespace) -> int:
    from . import html_report

    html_report.check_out_dir(args.out)
    _, db, rels = _open(args)
    with db:
        print(f"idstitch report · target {db.conn.target_name} ({db.conn.describe()}) · "
              f"schema {rels['dim_person'].schema}", flush=True)
        data = html_report.collect(db, rels, db.conn.target_name, db.conn.describe(),
                                   show_identifiers=args.show_identifiers)
    path = html_report.write(args.out, html_report.render(data))
    size = path.stat().st_size
    print(f"wrote {path} ({size / 1024:,.0f} KB): {data.counts['persons']:,} persons, "
          f"{data.counts['events']:,} events, {plural(data.total_runs, 'run')}")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------- demo, quality


def _cmd_demo(args: argparse.Namespace) -> int:
    from . import demo

    demo._check_ident(args.schema)  # fail before writing anything
    started = time.monotonic()
    dataset = demo.generate(args.persons, seed=args.seed, days=args.days)
    counts = demo.write_csv(dataset, args.out)
    summary = " ".join(f"{t}={n:,}" for t, n in counts.items())
    where = str(args.out)
    if args.duckdb is not None:
        demo.load_duckdb(args.duckdb, args.schema, args.out)
        where += f" and {args.duckdb} (schema {args.schema})"
    print(f"demo: {args.persons:,} persons, seed {args.seed}: {summary} -> {where} "
          f"in {time.monotonic() - started:.1f}s")
    return 0


def _cmd_quality(args: argparse.Namespace) -> int:
    import duckdb

    from . import quality

    if not args.duckdb.is_file():
        raise UsageError(f"idstitch quality: error: no DuckDB file at {args.duckdb}")
    con = duckdb.connect(str(args.duckdb), read_only=True)
    try:
        results = quality.evaluate(con, args.source_schema, args.output_schema)
    finally:
        con.close()
    print(json.dumps(results, indent=2) if args.json else quality.format_table(results))
    return 0


HANDLERS = {"run": _cmd_run, "validate": _cmd_validate, "explain": _cmd_explain, "diff": _cmd_diff,
            "report": _cmd_report, "demo": _cmd_demo, "quality": _cmd_quality}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    command = "idstitch"
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_ERROR
        command = f"idstitch {args.command}"
        return HANDLERS[args.command](args)
    except SystemExit as exc:  # --help / --version
        return exc.code if isinstance(exc.code, int) else 0
    except UsageError as exc:
        _err(str(exc))
        return EXIT_ERROR
    except IdstitchError as exc:
        _err(f"{command}: error: {one_line(exc)}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _err(f"{command}: interrupted")
        return 130
    except (OSError, ValueError) as exc:
        _err(f"{command}: error: {one_line(exc)}")
        return EXIT_ERROR
    except Exception as exc:
        if type(exc).__module__.split(".")[0] in {"duckdb", "_duckdb", "psycopg2"}:
            _err(f"{command}: error: {one_line(exc)}")
            return EXIT_ERROR
        if os.environ.get("IDSTITCH_DEBUG"):
            raise
        _err(f"{command}: error: unexpected {type(exc).__name__}: {one_line(exc)} "
             "(set IDSTITCH_DEBUG=1 for the traceback)")
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
