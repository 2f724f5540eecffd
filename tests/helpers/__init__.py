"""Test harness for idstitch: a throwaway Postgres server and a per-test dbt warehouse.

Importable as ``helpers`` from the tests (pytest puts ``tests/`` on ``sys.path``) and as ``tests.helpers``
from a script run at the repository root.
"""
