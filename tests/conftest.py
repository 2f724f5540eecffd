"""Fixtures: a session-wide throwaway Postgres server, a local Spark, and fresh dbt warehouses.

- ``pg_server``: the running :class:`PgServer` (started once per session, only if a test needs it).
- ``spark``: the process's :class:`SparkHost` (one SparkSession, started on first use; ``spark`` marker).
- ``duckdb_warehouse`` / ``postgres_warehouse``: a fresh :class:`Warehouse` per test.
- ``warehouse``: a fresh Warehouse per test, parametrised over both engines (ids ``[duckdb]``/``[postgres]``).
- ``module_warehouse``: the same, shared by the tests of one module (build once, assert many times).
- ``warehouse_factory``: ``warehouse_factory("duckdb" | "postgres" | "spark") -> Warehouse`` for anything
  else; closed at session end.

Postgres tests carry the ``postgres`` marker: ``pytest -m "not postgres"`` runs DuckDB only. Spark runs only
where a test asks for it (tests/test_spark.py, marker ``spark``): ``pytest -m "not spark"`` skips it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.pgserver import PgServer, postgres_server
from helpers.spark import SparkHost
from helpers.warehouse import Target, Warehouse, WarehouseFactory

ENGINES = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]


class _LazyPg:
    """Starts the server on first use, so a DuckDB-only run never needs Postgres binaries."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._server: PgServer | None = None

    def get(self) -> PgServer:
        if self._server is None:
            self._server = self._stack.enter_context(postgres_server())
        return self._server

    def close(self) -> None:
        self._stack.close()
        self._server = None


@pytest.fixture(scope="session")
def _pg_lazy() -> Iterator[_LazyPg]:
    lazy = _LazyPg()
    try:
        yield lazy
    finally:
        lazy.close()


@pytest.fixture(scope="session")
def pg_server(_pg_lazy: _LazyPg) -> PgServer:
    return _pg_lazy.get()


class _LazySpark:
    """The SparkHost, made on first use (its JVM starts when a warehouse first touches it)."""

    def __init__(self) -> None:
        self._host: SparkHost | None = None

    def get(self) -> SparkHost:
        if self._host is None:
            self._host = SparkHost()
        return self._host

    def close(self) -> None:
        if self._host is not None:
            self._host.stop()
            self._host = None


_SPARK = _LazySpark()


@pytest.fixture(scope="session")
def _spark_lazy() -> Iterator[_LazySpark]:
    try:
        yield _SPARK
    finally:
        _SPARK.close()


@pytest.fixture(scope="session")
def spark(_spark_lazy: _LazySpark) -> SparkHost:
    return _spark_lazy.get()


def _new_warehouse(target: Target, base_dir: Path, lazy: _LazyPg) -> Warehouse:
    if target == "spark":
        return Warehouse(target, base_dir, spark=_SPARK.get())
    return Warehouse(target, base_dir, pg=lazy.get() if target == "postgres" else None)


@pytest.fixture(scope="session")
def warehouse_factory(
    tmp_path_factory: pytest.TempPathFactory, _pg_lazy: _LazyPg, _spark_lazy: _LazySpark
) -> Iterator[WarehouseFactory]:
    created: list[Warehouse] = []

    def make(target: Target) -> Warehouse:
        wh = _new_warehouse(target, tmp_path_factory.mktemp(f"wh-{target}"), _pg_lazy)
        created.append(wh)
        return wh

    yield make
    for wh in created:
        wh.close()


@pytest.fixture
def duckdb_warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    with Warehouse("duckdb", tmp_path / "warehouse") as wh:
        yield wh


@pytest.fixture
def postgres_warehouse(tmp_path: Path, pg_server: PgServer) -> Iterator[Warehouse]:
    with Warehouse("postgres", tmp_path / "warehouse", pg=pg_server) as wh:
        yield wh


@pytest.fixture(params=ENGINES)
def warehouse(request: pytest.FixtureRequest, tmp_path: Path, _pg_lazy: _LazyPg) -> Iterator[Warehouse]:
    with _new_warehouse(request.param, tmp_path / "warehouse", _pg_lazy) as wh:
        yield wh


@pytest.fixture(scope="module", params=ENGINES)
def module_warehouse(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, _pg_lazy: _LazyPg
) -> Iterator[Warehouse]:
    with _new_warehouse(request.param, tmp_path_factory.mktemp(f"mwh-{request.param}"), _pg_lazy) as wh:
        yield wh


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use the Postgres fixtures directly get the ``postgres`` marker too."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & {"pg_server", "postgres_warehouse"}:
            item.add_marker(pytest.mark.postgres)
        if "spark" in names:
            item.add_marker(pytest.mark.spark)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "postgres" in callspec.params.values():
            item.add_marker(pytest.mark.postgres)
