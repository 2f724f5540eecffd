"""Access: a BI role granted through dbt's grants reads the marts and nothing else (Postgres, a real role)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers.warehouse import Warehouse
from test_scenarios import combined_csvs

MARTS = ["dim_person", "fct_tracks", "fct_pages", "fct_identifies", "person_identifiers", "person_changes"]
NOT_FOR_BI = ["identity_links", "identity_refusals", "closure_runs", "idstitch_violations"]
INTERNAL = ["int_idstitch__messages", "int_idstitch__links", "int_idstitch__identity_map"]
VARS = {"idstitch__max_links_per_identifier": 10}

pytestmark = pytest.mark.postgres


@pytest.fixture
def loaded(postgres_warehouse: Warehouse, tmp_path: Path) -> Warehouse:
    postgres_warehouse.load_tables("segment", combined_csvs(tmp_path))
    return postgres_warehouse


@pytest.fixture
def role(loaded: Warehouse) -> Iterator[tuple[str, Any]]:
    """A fresh role without login, and an autocommit superuser connection; both dropped afterwards."""
    assert loaded.pg is not None
    name = f"bi_{uuid.uuid4().hex[:8]}"
    admin = loaded.pg.connect(loaded.database)
    with admin.cursor() as cur:
        cur.execute(f"create role {name} nologin")
    try:
        yield name, admin
    finally:
        with admin.cursor() as cur:
            cur.execute("reset role")
            cur.execute(f"drop owned by {name}")
            cur.execute(f"drop role {name}")
        admin.close()


def can_read(admin: Any, role: str, relation: str) -> bool:
    with admin.cursor() as cur:
        cur.execute(f"select has_table_privilege('{role}', %s, 'select')", [relation])
        return bool(cur.fetchone()[0])


def test_a_reader_role_sees_the_marts_only(loaded: Warehouse, role: tuple[str, Any]) -> None:
    from psycopg2 import errors

    name, admin = role
    internal = f"{loaded.schema}_idstitch_internal"
    loaded.run_dbt("build", vars={**VARS, "idstitch__reader_roles": [name]})
    with admin.cursor() as cur:
        # the DBA's part: the role may enter both schemas (so only table grants decide)
        cur.execute(f"grant usage on schema {loaded.schema}, {internal} to {name}")
    readable, refused = [], []
    for schema, table in [(loaded.schema, t) for t in MARTS + NOT_FOR_BI] + [(internal, t) for t in INTERNAL]:
        with admin.cursor() as cur:
            cur.execute(f"set role {name}")
            try:
                cur.execute(f'select count(*) from "{schema}"."{table}"')
                readable.append(table)
            except errors.InsufficientPrivilege:
                refused.append(table)
            finally:
                cur.execute("reset role")
    assert readable == MARTS
    assert refused == NOT_FOR_BI + INTERNAL
    # a rebuild keeps the grants (dbt applies them to the new table)
    loaded.run_dbt("build", "--select", "idstitch__dim_person", vars={**VARS, "idstitch__reader_roles": [name]})
    assert can_read(admin, name, f'"{loaded.schema}"."dim_person"')


def test_without_reader_roles_hand_made_grants_are_kept(loaded: Warehouse, role: tuple[str, Any]) -> None:
    """No idstitch__reader_roles: no grants config, so dbt revokes nothing a DBA granted on an incremental mart."""
    name, admin = role
    loaded.run_dbt("build", vars=VARS)
    relation = f'"{loaded.schema}"."person_changes"'
    with admin.cursor() as cur:
        cur.execute(f"grant usage on schema {loaded.schema} to {name}")
        cur.execute(f"grant select on {relation} to {name}")
    loaded.run_dbt("build", "--select", "idstitch__person_changes", vars=VARS)
    assert can_read(admin, name, relation)
