"""`make lint-sql`: run sqlfluff (dbt templater) over models/ against a throwaway DuckDB, offline.

Why the dbt templater and not `--templater jinja`: the models call package macros (`idstitch.*`), `ref`,
`source` and `adapter.*`; the jinja templater would need all of that mocked, and its output would not be
the SQL dbt really runs. The dbt templater only needs a profile, and a local DuckDB file is one that works
without any server or network. The staging macros introspect the source tables at compile time, so the
contract's raw tables (docs/CONTRACT.md) are created empty in that file first.

Skips (exit 0) only when models/ holds no .sql file at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from idstitch.demo import COLUMNS

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE_SCHEMA = "segment"  # dbt_project.yml default of idstitch__source_schema
# docs/CONTRACT.md's raw tables, as the demo generator writes them
SOURCE_TABLES = {table: list(columns) for table, columns in COLUMNS.items() if table != "truth"}


def _create_sources(db_path: Path) -> None:
    import duckdb

    con = duckdb.connect(str(db_path))
    try:
        con.execute(f"create schema if not exists {SOURCE_SCHEMA}")
        for table, columns in SOURCE_TABLES.items():
            cols = ", ".join(
                f'"{c}" ' + ("timestamp" if c in ("timestamp", "received_at") else "text") for c in columns
            )
            con.execute(f"create table {SOURCE_SCHEMA}.{table} ({cols})")
    finally:
        con.close()


def main(argv: list[str]) -> int:
    paths = argv or ["models"]
    if not any((REPO_ROOT / "models").rglob("*.sql")):
        print("lint-sql: models/ has no .sql files yet: nothing to lint, skipping.")
        return 0
    with tempfile.TemporaryDirectory(prefix="idstitch-lint-") as tmp:
        tmp_dir = Path(tmp)
        db_path = tmp_dir / "idstitch.duckdb"
        _create_sources(db_path)
        output = {"type": "duckdb", "path": str(db_path), "schema": "main", "threads": 1}
        profiles = {"idstitch": {"target": "lint", "outputs": {"lint": output}}}
        (tmp_dir / "profiles.yml").write_text(json.dumps(profiles, indent=2) + "\n")
        env = {
            **os.environ,
            "DBT_PROFILES_DIR": str(tmp_dir),
            "DBT_TARGET_PATH": str(tmp_dir / "target"),
            "DBT_LOG_PATH": str(tmp_dir / "logs"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
        }
        # Models read the seeds at compile time (run_query): load them into the throwaway file first.
        if any((REPO_ROOT / "seeds").glob("*.csv")):
            seed = [str(Path(sys.executable).parent / "dbt"), "seed", "--project-dir", str(REPO_ROOT)]
            proc = subprocess.run(seed, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(proc.stdout[-4000:], proc.stderr[-2000:], sep="\n")
                print("lint-sql: `dbt seed` into the throwaway DuckDB failed (see above).")
                return proc.returncode
        cmd = [sys.executable, "-m", "sqlfluff", "lint", *paths]
        print("lint-sql:", " ".join(cmd), flush=True)
        return subprocess.run(cmd, cwd=REPO_ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
