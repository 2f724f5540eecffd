"""Access: a BI role granted through dbt's grants reads the marts and nothing else (Postgres, a real role)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from helpers.warehouse import Warehouse
from test_scenarios import combined_csvs

MARTS = ["dim_person", "fct_tracks", "fct_pages", "fct_identifies", "person_identifiers", "person_changes"]
NOT_FOR_BI = ["identity_links", "identity_refusals", "closure_runs", "idstitch_violations"]
INTERNAL = ["int_idstitch__messages", "int_idstitch__links", "int_idstitch__identity_map"]


def test_a_reader_role_sees_the_marts_only(postgres_warehouse: Warehouse, tmp_path: Path) -> None:
    from psycopg2 import errors

    wh = postgres_warehouse
    assert wh.pg is not None
    wh.load_tables("segment", combined_csvs(tmp_path))
    role = f"bi_{uuid.uuid4().hex[:8]}"
    internal = f"{wh.schema}_idstitch_internal"
    admin = wh.pg.connect(wh.database)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f"create role {role} nologin")
        wh.run_dbt("build", vars={"idstitch__max_links_per_identifier": 10, "idstitch__reader_roles": [role]})
        with admin.cursor() as cur:
            # the DBA's part: the role may enter both schemas (so only table grants decide)
            cur.execute(f"grant usage on schema {wh.schema}, {internal} to {role}")
        readable, refused = [], []
        for schema, table in [(wh.schema, t) for t in MARTS + NOT_FOR_BI] + [(internal, t) for t in INTERNAL]:
            with admin.cursor() as cur:
                cur.execute(f"set role {role}")
                try:
                    cur.execute(f'select count(*) from "{schema}"."{table}"')
                    readable.append(table)
                except errors.InsufficientPrivilege:
                    refused.append(table)
                finally:
                    cur.execute("reset role")
        assert readable == MARTS
        assert refused == NOT_FOR_BI + INTERNAL
        # a rebuild keeps the grants (dbt re-applies them to the new tables)
        wh.run_dbt("build", "--select", "idstitch__dim_person",
                   vars={"idstitch__max_links_per_identifier": 10, "idstitch__reader_roles": [role]})
        with admin.cursor() as cur:
            cur.execute(f"set role {role}")
            cur.execute(f'select count(*) from "{wh.schema}"."dim_person"')
            assert cur.fetchone()[0] > 0
            cur.execute("reset role")
    finally:
        with admin.cursor() as cur:
            cur.execute("reset role")
            cur.execute(f"drop owned by {role}")
            cur.execute(f"drop role {role}")
        admin.close()


def test_without_reader_roles_hand_made_grants_are_kept(postgres_warehouse: Warehouse, tmp_path: Path) -> None:
    """No idstitch__reader_roles: no grants config, so dbt revokes nothing a DBA granted."""
    wh = postgres_warehouse
    assert wh.pg is not None
    wh.load_tables("segment", combined_csvs(tmp_path))
    wh.run_dbt("build", vars={"idstitch__max_links_per_identifier": 10})
    role = f"bi_{uuid.uuid4().hex[:8]}"
    admin = wh.pg.connect(wh.database)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f"create role {role} nologin")
            cur.execute(f"grant usage on schema {wh.schema} to {role}")
            cur.execute(f'grant select on "{wh.schema}"."person_changes" to {role}')
        wh.run_dbt("build", "--select", "idstitch__person_changes", vars={"idstitch__max_links_per_identifier": 10})
        with admin.cursor() as cur:
            cur.execute(f"select has_table_privilege('{role}', '\"{wh.schema}\".\"person_changes\"', 'select')")
            assert cur.fetchone()[0] is True
    finally:
        with admin.cursor() as cur:
            cur.execute(f"drop owned by {role}")
            cur.execute(f"drop role {role}")
        admin.close()


pytestmark = pytest.mark.postgres
