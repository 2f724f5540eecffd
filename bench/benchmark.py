"""Benchmark: idstitch's full build on Postgres beside the one-hop baseline, and an incremental run.

Prints, for one generated dataset (default 100,000 persons ≈ 4.5 M messages):
- every package model's execution time (from dbt's run_results.json) and their sum, for a full build
  on all but the newest 1 % of messages (by received_at) and for the incremental run that follows
  once that 1 % has arrived, with the rows each model wrote; the ratio incremental / full (target
  ≤ 10 %);
- the one-hop baseline (each anonymous id → its latest user id) materialised as full-width track and
  page tables in the same server, and the ratio package / baseline (target ≤ 2×);
- closure rounds per closure, and with --quality the pairwise precision / recall against the truth.

It starts its own throwaway Postgres server (tests/helpers/pgserver.py); nothing else is needed.
Figures vary ±40 % between identical runs on a 2-core machine: compare ratios, not seconds.

    python bench/benchmark.py [--persons 100000] [--seed 42] [--new-share 0.01] [--quality] [--csv-dir DIR]

dbt runs with one thread, so model times do not overlap and their sum is the work done.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))

from helpers.pgserver import postgres_server  # noqa: E402
from helpers.warehouse import Warehouse, dbt_executable  # noqa: E402
from idstitch import demo, quality  # noqa: E402

SOURCE_SCHEMA = "segment"
TARGET_SCHEMA = "analytics"
MESSAGE_TABLES = ("tracks", "pages", "identifies", "aliases")


def _profiles(dir_: Path, host: str, port: int, user: str, dbname: str) -> None:
    (dir_ / "profiles.yml").write_text(
        "idstitch:\n  target: postgres\n  outputs:\n    postgres:\n"
        f"      type: postgres\n      host: {host}\n      port: {port}\n      user: {user}\n"
        f"      password: ''\n      dbname: {dbname}\n      schema: {TARGET_SCHEMA}\n      threads: 1\n"
    )


def _dbt(work: Path, *args: str) -> dict:
    env = {**os.environ, "DBT_PROFILES_DIR": str(work), "DBT_TARGET_PATH": str(work / "target"),
           "DBT_LOG_PATH": str(work / "logs"), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    proc = subprocess.run([dbt_executable(), *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        sys.exit(f"dbt {' '.join(args)} failed:\n{proc.stdout[-4000:]}")
    return json.loads((work / "target" / "run_results.json").read_text())


def _model_figures(results: dict) -> dict[str, tuple[float, int | None]]:
    """model name → (execution seconds, rows written when the adapter reports it)."""
    return {r["unique_id"].split(".")[-1]: (r["execution_time"], (r.get("adapter_response") or {}).get("rows_affected"))
            for r in results["results"] if r["unique_id"].startswith("model.")}


def hold_back_newest(conn, share: float) -> int:
    """Move the newest `share` of every message table (by received_at) into hold_<table>; returns rows held."""
    cur = conn.cursor()
    cur.execute(f"select percentile_disc({1 - share}) within group (order by received_at) from ("
                + " union all ".join(f'select received_at from {SOURCE_SCHEMA}."{t}"' for t in MESSAGE_TABLES) + ") r")
    (cutoff,) = cur.fetchone()
    held = 0
    for table in MESSAGE_TABLES:
        cur.execute(f'create table {SOURCE_SCHEMA}."hold_{table}" as '
                    f'select * from {SOURCE_SCHEMA}."{table}" where received_at > %s', (cutoff,))
        held += cur.rowcount
        cur.execute(f'delete from {SOURCE_SCHEMA}."{table}" where received_at > %s', (cutoff,))
    cur.execute("analyze")
    conn.commit()
    return held


def release_held(conn) -> None:
    cur = conn.cursor()
    for table in MESSAGE_TABLES:
        cur.execute(f'insert into {SOURCE_SCHEMA}."{table}" select * from {SOURCE_SCHEMA}."hold_{table}"')
        cur.execute(f'drop table {SOURCE_SCHEMA}."hold_{table}"')
    cur.execute("analyze")
    conn.commit()


def _timed(cur, sql: str) -> float:
    start = time.perf_counter()
    cur.execute(sql)
    return time.perf_counter() - start


def baseline(conn) -> dict[str, float]:
    """The one-hop package pattern: a mapping table, then tracks and pages rebuilt full-width with it."""
    cur = conn.cursor()
    cur.execute("drop schema if exists one_hop cascade; create schema one_hop")
    times = {"one_hop.anonymous_id_map": _timed(
        cur, f"create table one_hop.anonymous_id_map as {quality.one_hop_mapping_sql(SOURCE_SCHEMA)}")}
    for table in ("tracks", "pages"):
        times[f"one_hop.{table}"] = _timed(
            cur,
            f"create table one_hop.{table} as "
            f"select e.*, coalesce(e.user_id, m.user_id, e.anonymous_id, 'msg:' || e.id) as person_id "
            f'from {SOURCE_SCHEMA}."{table}" as e '
            f"left join one_hop.anonymous_id_map as m on m.anonymous_id = e.anonymous_id",
        )
    return times


def chain_rounds(work: Path) -> int:
    """Closure rounds for the 1,000-step alias chain whose keys are in random order along the chain
    (plus the test module's other alias graphs), on DuckDB: the case min-label propagation needs
    hundreds of rounds for."""
    from test_closure import _alias_graphs

    aliases, tracks, _ = _alias_graphs()
    with Warehouse("duckdb", work / "chain") as wh:
        wh.load_tables("segment", {"tracks": tracks, "pages": [], "identifies": [], "aliases": aliases})
        wh.run_dbt("build", vars={"idstitch__max_links_per_identifier": 1000})
        ((rounds,),) = wh.query(
            f"select rounds from {wh.relation('closure_runs')} where closure_name = 'user_groups'")
    return int(rounds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--new-share", type=float, default=0.01,
                        help="share of messages (newest by received_at) that arrive for the incremental run")
    parser.add_argument("--quality", action="store_true", help="also score precision / recall (slow on Postgres)")
    parser.add_argument("--csv-dir", type=Path, help="reuse / keep the generated CSVs here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="idstitch-bench-") as tmp:
        work = Path(tmp)
        print(f"closure rounds, 1,000-step alias chain in random key order: {chain_rounds(work)} (target ≤ 15)")
        csv_dir = args.csv_dir or work / "csv"
        if not (csv_dir / "tracks.csv").exists():
            started = time.perf_counter()
            counts = demo.write_csv(demo.generate(args.persons, seed=args.seed), csv_dir)
            print(f"generated {args.persons:,} persons in {time.perf_counter() - started:.0f}s: "
                  + ", ".join(f"{t}={n:,}" for t, n in counts.items()))
        with postgres_server() as server:
            server.create_database("bench")
            conn = server.connect("bench")
            demo.load_postgres({"host": server.host, "port": server.port, "user": server.user,
                                "dbname": "bench"}, SOURCE_SCHEMA, csv_dir)
            conn.cursor().execute("analyze")
            _profiles(work, server.host, server.port, server.user, "bench")

            held = hold_back_newest(conn, args.new_share)
            full = _model_figures(_dbt(work, "build"))
            release_held(conn)
            incremental = _model_figures(_dbt(work, "build"))
            # the baseline and the ratio against it use a full build on all the data
            results = _dbt(work, "build", "--full-refresh")
            models = {name: seconds for name, (seconds, _) in _model_figures(results).items()}
            tests = sum(r["execution_time"] for r in results["results"] if r["unique_id"].startswith("test."))
            base = baseline(conn)

            cur = conn.cursor()
            cur.execute(f"select closure_name, rounds, input_links, identifiers from {TARGET_SCHEMA}.closure_runs "
                        "order by run_started_at desc, closure_name limit 2")
            closures = cur.fetchall()
            cur.execute(f"select count(*), sum(case when is_identified then 1 else 0 end) "
                        f"from {TARGET_SCHEMA}.dim_person")
            persons, identified = cur.fetchone()

            print(f"\nidstitch on Postgres, {args.persons:,} generated persons "
                  f"→ {persons:,} persons ({identified:,} identified)")
            width = max(map(len, [*models, *base]))
            print(f"\n{'model':<{width}}  seconds")
            for name, seconds in sorted(models.items(), key=lambda kv: -kv[1]):
                print(f"{name:<{width}}  {seconds:7.2f}")
            package = sum(models.values())
            print(f"{'package models, summed':<{width}}  {package:7.2f}   (+ {tests:.2f}s of data tests)")
            print()
            for name, seconds in base.items():
                print(f"{name:<{width}}  {seconds:7.2f}")
            baseline_total = sum(base.values())
            print(f"{'one-hop baseline, summed':<{width}}  {baseline_total:7.2f}")
            print(f"\npackage / baseline = {package / baseline_total:.2f}x  (target ≤ 2x)")
            for name, rounds, links, identifiers in closures:
                print(f"closure {name}: {rounds} rounds over {links:,} directed links, {identifiers:,} identifiers")

            print(f"\nincremental run: {held:,} new messages ({args.new_share:.1%}) after a full build on the rest")
            print(f"{'model':<{width}}  {'full s':>7} {'incr s':>7} {'rows written (incr)':>20}")
            for name in sorted(full, key=lambda n: -incremental.get(n, (0, None))[0]):
                rows = incremental.get(name, (0, None))[1]
                print(f"{name:<{width}}  {full[name][0]:7.2f} {incremental.get(name, (0, None))[0]:7.2f} "
                      f"{'' if rows is None else f'{rows:,}':>20}")
            full_total = sum(seconds for seconds, _ in full.values())
            incremental_total = sum(seconds for seconds, _ in incremental.values())
            print(f"{'summed':<{width}}  {full_total:7.2f} {incremental_total:7.2f}")
            print(f"\nincremental / full = {incremental_total / full_total:.1%}  (target ≤ 10%)")

            if args.quality:
                print()
                print(quality.format_table(quality.evaluate(conn, SOURCE_SCHEMA, TARGET_SCHEMA)))
            conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
