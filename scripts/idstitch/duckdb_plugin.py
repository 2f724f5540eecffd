"""dbt-duckdb plugin: hand the personal-data hash key to DuckDB without writing it into SQL.

Add it to the DuckDB output of ``profiles.yml``::

    plugins:
      - module: idstitch.duckdb_plugin
        # config: {key_env: IDSTITCH_HASH_KEY}   # the default

Every connection and cursor dbt opens gets the session variable ``idstitch_hash_key`` from the
environment variable, bound as a parameter, so the key never appears in compiled SQL, in
``target/`` or in dbt's logs. The package reads it with ``getvariable('idstitch_hash_key')``
(macros/utils/personal_data.sql). Without the environment variable nothing is set, and a run that
needs the key stops at start with a message saying so.
"""

from __future__ import annotations

import os
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

DEFAULT_KEY_ENV = "IDSTITCH_HASH_KEY"


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.key_env = str(plugin_config.get("key_env") or DEFAULT_KEY_ENV)

    def _set_key(self, conn: Any) -> None:
        key = os.environ.get(self.key_env)
        if key:
            conn.execute("set variable idstitch_hash_key = ?", [key])

    def configure_connection(self, conn: Any) -> None:
        self._set_key(conn)

    def configure_cursor(self, cursor: Any) -> None:
        self._set_key(cursor)
