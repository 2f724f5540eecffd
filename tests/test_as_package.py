"""idstitch installed as a dbt package inside another project, as most teams will run it.

A root project's macros override dbt's and the adapter's; a package's do not. So nothing the package
needs may rest on such an override: here the package is installed from its local path into a fresh
root project on DuckDB, built twice (the second a --full-refresh, which swaps every incremental model),
and must leave exactly what it leaves as the root project — published tables in the target schema and no
`__dbt_backup` copy of any table (dbt-duckdb's incremental swap leaves one unless the package drops it).

Spark refuses the `commit` dbt sends before a hook that runs outside the model's transaction; the
package therefore has no such hook (checked on the manifest, on every engine's parse).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from helpers.warehouse import REPO_ROOT, Warehouse

PUBLISHED = {"dim_person", "fct_tracks", "fct_pages", "fct_identifies", "person_identifiers", "closure_runs",
             "person_changes", "identity_links", "identity_refusals"}


def _client_project(directory: Path) -> Path:
    directory.mkdir(parents=True)
    (directory / "dbt_project.yml").write_text(
        "name: client\nversion: '1.0.0'\nconfig-version: 2\nprofile: idstitch\n"
    )
    (directory / "packages.yml").write_text(f"packages:\n  - local: {json.dumps(str(REPO_ROOT))}\n")
    return directory


def _load(wh: Warehouse) -> None:
    at = dt.datetime(2026, 2, 1, 10, 0, 0)
    wh.load_tables("segment", {
        "tracks": [{"id": f"p_t{n}", "anonymous_id": "p_a1", "user_id": "p_u1" if n else None, "event": "x",
                    "timestamp": at + dt.timedelta(minutes=n), "received_at": at + dt.timedelta(minutes=n)}
                   for n in range(3)],
        "pages": [{"id": "p_p1", "anonymous_id": "p_a2", "user_id": None, "name": "home", "path": "/",
                   "timestamp": at, "received_at": at}],
        "identifies": [{"id": "p_i1", "anonymous_id": "p_a2", "user_id": "p_u1", "email": "p@example.com",
                        "name": "P", "plan": "free", "timestamp": at, "received_at": at}],
        "aliases": [],
    })


def test_installed_as_a_package_it_builds_and_leaves_no_backup_tables(duckdb_warehouse: Warehouse,
                                                                      tmp_path: Path) -> None:
    wh = duckdb_warehouse
    _load(wh)
    wh.project_dir = _client_project(tmp_path / "client")
    wh.run_dbt("deps")
    wh.run_dbt("build")
    wh.run_dbt("build", "--full-refresh")

    # checked right after the full refresh: dbt-duckdb's next incremental run would clean up by chance
    tables = {(schema, name) for schema, name in wh.query(
        "select table_schema, table_name from information_schema.tables")}
    assert not sorted(t for t in tables if "__dbt" in t[1]), "dbt scratch or backup tables left behind"
    assert {name for schema, name in tables if schema == wh.schema} >= PUBLISHED
    wh.run_dbt("build")
    assert wh.query(f"select count(*) from {wh.relation('dim_person')}") == [(1,)]

    manifest = json.loads((wh.target_path / "manifest.json").read_text())
    outside = sorted(
        node_id for node_id, node in manifest["nodes"].items()
        if node.get("package_name") == "idstitch"
        for hook in node["config"].get("pre-hook", []) + node["config"].get("post-hook", [])
        if not hook.get("transaction", True)
    )
    assert not outside, f"hooks outside the model's transaction (Spark refuses dbt's commit before them): {outside}"
