"""The Spark lane (docs/decisions/0008-spark.md): the same models, through dispatch, on a local Spark.

dbt-spark's ``session`` method with pyspark in this process (``helpers.spark``): tables are plain parquet in a
Hive catalog (no Delta Lake jars here). The scenario fixtures of ``test_scenarios.py`` are built once on
Spark, DuckDB and Postgres, and:

* every scenario's messages are partitioned into persons as its ``expected.csv`` says (as on the other two);
* every published table is identical on Spark and on DuckDB, and on Spark and on Postgres, row for row, ids
  included: all columns but the ones recording *when* a row was written, compared as multisets of
  normalised values (timestamps as ISO text, booleans as ``true``/``false``, numbers as text).

Marker ``spark`` (``pytest -m "not spark"`` skips the lane); the Postgres comparison also carries ``postgres``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import test_scenarios as scenarios
from helpers.warehouse import Warehouse, WarehouseFactory
from test_incremental import Snapshot, snapshot, table_diff

pytestmark = pytest.mark.spark

# What the three engines must publish identically: the published graph and marts, the change log and the
# closure log (first build: every identifier is a birth), and the audit (empty on all three).
COMPARED = (
    "dim_person",
    "fct_tracks",
    "fct_pages",
    "fct_identifies",
    "person_identifiers",
    "identity_links",
    "identity_refusals",
    "person_changes",
    "closure_runs",
    "idstitch_violations",
)
# when (and by which invocation) a row was written: differs between any two builds
WRITTEN_COLUMNS = ("changed_in_run_at", "run_started_at", "invocation_id")


def published(wh: Warehouse) -> Snapshot:
    return snapshot(wh, exclude=WRITTEN_COLUMNS, relations=COMPARED)


@pytest.fixture(scope="module")
def spark_build(
    warehouse_factory: WarehouseFactory, tmp_path_factory: pytest.TempPathFactory
) -> scenarios.BuildResult:
    return scenarios._build("spark", warehouse_factory, tmp_path_factory.mktemp("scenarios-spark"))


def _reference(engine: str, factory: WarehouseFactory, tmp_dir: Path) -> Snapshot:
    build = scenarios._build(engine, factory, tmp_dir)
    assert build.returncode == 0, f"dbt build failed on {engine}:\n" + "\n".join(build.output.splitlines()[-60:])
    return published(build.warehouse)


@pytest.fixture(scope="module")
def spark_outputs(spark_build: scenarios.BuildResult) -> Snapshot:
    assert spark_build.returncode == 0, "dbt build failed on Spark"
    return published(spark_build.warehouse)


def test_build_succeeds(spark_build: scenarios.BuildResult) -> None:
    tail = "\n".join(spark_build.output.splitlines()[-80:])
    assert spark_build.returncode == 0, f"dbt build failed on spark:\n{tail}"
    # every model, seed and data test ran: nothing skipped, nothing failed
    assert "ERROR=0" in spark_build.output and "SKIP=0" in spark_build.output, tail


@pytest.mark.parametrize("scenario", scenarios.SCENARIOS, ids=[sc.name for sc in scenarios.SCENARIOS])
def test_scenario(spark_build: scenarios.BuildResult, scenario: scenarios.Scenario) -> None:
    scenarios.test_scenario(spark_build, scenario)


def test_no_person_spans_scenarios(spark_build: scenarios.BuildResult) -> None:
    scenarios.test_no_person_spans_scenarios(spark_build)


def _assert_equal(spark: Snapshot, other: Snapshot, engine: str) -> None:
    problems: list[str] = []
    for name in COMPARED:
        problems += table_diff(name, spark[name], other[name], "spark", engine)
    assert not problems, f"Spark and {engine} publish different rows:\n" + "\n".join(problems)
    assert spark["fct_tracks"].n_rows > 0 and spark["identity_links"].n_rows > 0


def test_equal_to_duckdb(
    spark_outputs: Snapshot, warehouse_factory: WarehouseFactory, tmp_path_factory: pytest.TempPathFactory
) -> None:
    duckdb = _reference("duckdb", warehouse_factory, tmp_path_factory.mktemp("scenarios-duckdb"))
    _assert_equal(spark_outputs, duckdb, "duckdb")


@pytest.mark.postgres
def test_equal_to_postgres(
    spark_outputs: Snapshot, warehouse_factory: WarehouseFactory, tmp_path_factory: pytest.TempPathFactory
) -> None:
    postgres = _reference("postgres", warehouse_factory, tmp_path_factory.mktemp("scenarios-postgres"))
    _assert_equal(spark_outputs, postgres, "postgres")
