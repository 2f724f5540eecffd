"""A local Spark for the tests: one SparkSession per Python process, and dbt run in that process.

dbt-spark's ``session`` method runs Spark SQL through ``SparkSession.builder.getOrCreate()`` in dbt's own
process. Starting a JVM costs seconds and an embedded Hive metastore (Derby) can be opened by one JVM only,
so the tests start the session once (:class:`SparkHost`) and invoke dbt in the same process
(``dbtRunner``): dbt then finds this session, and the tests read what dbt wrote through it.

Tables are plain parquet in a Hive catalog (Derby metastore and warehouse directory under the host's base
directory): Delta Lake's jars cannot be fetched here. Kept small for a 2-core machine: ``local[2]`` and two
shuffle partitions (``IDSTITCH_SPARK_MASTER`` / ``IDSTITCH_SPARK_SHUFFLE_PARTITIONS`` override them).

Run ``python tests/helpers/spark.py`` to check that a session starts (prints Spark's version).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

DEFAULT_MASTER = "local[2]"
DEFAULT_SHUFFLE_PARTITIONS = "2"


def session_settings(base_dir: Path) -> dict[str, str]:
    """The settings the test session starts with (static ones need a fresh JVM to change)."""
    java_options = f"-Dderby.system.home={base_dir} -Duser.timezone=UTC"
    return {
        "spark.master": os.environ.get("IDSTITCH_SPARK_MASTER", DEFAULT_MASTER),
        "spark.app.name": "idstitch-tests",
        "spark.driver.memory": "2g",
        "spark.driver.extraJavaOptions": java_options,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": os.environ.get(
            "IDSTITCH_SPARK_SHUFFLE_PARTITIONS", DEFAULT_SHUFFLE_PARTITIONS
        ),
        "spark.default.parallelism": "2",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.warehouse.dir": str(base_dir / "warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={base_dir / 'metastore_db'};create=true"
        ),
        # `create table ... as` without `using` makes a parquet table, never a Hive text table
        "spark.sql.legacy.createHiveTableByDefault": "false",
        "spark.sql.ansi.enabled": "false",  # what dbt-spark sets for every session
        # dates before 1582 (a hostile fixture has year 1) as written, proleptic Gregorian like the
        # other engines, instead of refusing to write them
        "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
        "spark.sql.parquet.datetimeRebaseModeInRead": "CORRECTED",
        "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
        "spark.sql.parquet.int96RebaseModeInRead": "CORRECTED",
    }


# The runtime settings dbt's profile passes again (dbt-spark applies them to the running session).
PROFILE_SETTINGS = ("spark.sql.session.timeZone", "spark.sql.shuffle.partitions")


class SparkHost:
    """The process's SparkSession (started on first use) and its scratch directory."""

    _lock = threading.Lock()

    def __init__(self, base_dir: Path | None = None) -> None:
        self._own_dir = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="idstitch-spark-")).resolve()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.settings = session_settings(self.base_dir)
        self._session: Any = None
        # one dbt invocation at a time: dbt's runner keeps process-wide state
        self.dbt_lock = threading.Lock()

    @property
    def session(self) -> Any:
        with self._lock:
            if self._session is None:
                from pyspark.sql import SparkSession

                builder = SparkSession.builder.enableHiveSupport()
                for key, value in self.settings.items():
                    builder = builder.config(key, value)
                self._session = builder.getOrCreate()
                self._session.sparkContext.setLogLevel("ERROR")
            return self._session

    def profile_settings(self) -> dict[str, str]:
        return {key: self.settings[key] for key in PROFILE_SETTINGS}

    def stop(self) -> None:
        with self._lock:
            if self._session is not None:
                with contextlib.suppress(Exception):
                    self._session.stop()
                self._session = None
        if self._own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)


@contextlib.contextmanager
def spark_host(base_dir: Path | None = None) -> Iterator[SparkHost]:
    host = SparkHost(base_dir)
    try:
        yield host
    finally:
        host.stop()


def invoke_dbt(host: SparkHost, argv: Sequence[str]) -> tuple[int, str, str]:
    """``dbt <argv>`` in this process (so it finds ``host``'s session): exit code (0 ok, 1 a node failed,
    2 an error, as dbt's CLI), console text (dbt's info/warn/error messages) and the error, if any."""
    from dbt.cli.main import dbtRunner

    lines: list[str] = []

    def collect(event: Any) -> None:
        with contextlib.suppress(Exception):
            if event.info.level in ("info", "warn", "error") and event.info.msg:
                lines.append(str(event.info.msg))

    host.session  # noqa: B018 - start the session before dbt does, with the host's settings
    with host.dbt_lock:
        result = dbtRunner(callbacks=[collect]).invoke([*argv, "--log-level", "none"])
    if result.exception is not None:
        return 2, "\n".join(lines) + "\n", f"{type(result.exception).__name__}: {result.exception}\n"
    return (0 if result.success else 1), "\n".join(lines) + "\n", ""


if __name__ == "__main__":
    with spark_host() as spark:
        print("Spark", spark.session.version, "in", spark.base_dir)
