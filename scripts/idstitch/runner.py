"""Where the dbt project, profile and artifacts are, and the one wrapper around dbt's programmatic runner.

Resolution follows dbt's own rules, so ``idstitch`` and ``dbt`` agree on what they talk to:

* project dir: ``--project-dir``, else ``$DBT_PROJECT_DIR``, else the directory holding this package's
  ``dbt_project.yml`` (the repository, for an editable install), else the current directory;
* profiles dir: ``--profiles-dir``, else ``$DBT_PROFILES_DIR``, else the current directory when it holds a
  ``profiles.yml``, else ``~/.dbt`` (dbt's default);
* target: ``--target``, else ``$DBT_TARGET``, else the profile's default target;
* target path (artifacts ``run_results.json``, ``manifest.json``): ``--target-path``, else
  ``$DBT_TARGET_PATH`` (both relative to the current directory), else the project's ``target-path``
  (default ``target``) under the project dir. The log path likewise (``$DBT_LOG_PATH``, ``log-path``).

The profile is rendered by dbt (``env_var()`` and all), so the credentials are exactly the ones dbt uses.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import IdstitchError, one_line

PACKAGE_NAME = "idstitch"  # the dbt package's name (dbt_project.yml `name`)
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # scripts/idstitch/ -> the repository


def package_project_dir() -> Path | None:
    """The dbt project this package was installed from (an editable install), if it is there."""
    return _PACKAGE_ROOT if (_PACKAGE_ROOT / "dbt_project.yml").is_file() else None


@dataclass
class DbtContext:
    """Where dbt runs and what it reads: resolved once per command (see the module docstring)."""

    project_dir: Path
    profiles_dir: Path
    target: str | None = None
    target_path: Path = field(default=Path("target"))
    log_path: Path = field(default=Path("logs"))
    profile_name: str = PACKAGE_NAME

    @classmethod
    def resolve(
        cls,
        project_dir: str | os.PathLike[str] | None = None,
        profiles_dir: str | os.PathLike[str] | None = None,
        target: str | None = None,
        target_path: str | os.PathLike[str] | None = None,
    ) -> DbtContext:
        project = _resolve_project_dir(project_dir)
        settings = _project_settings(project)
        profiles = _resolve_profiles_dir(profiles_dir)
        # a path given on the command line or in the environment is relative to the current directory;
        # one from dbt_project.yml to the project
        given_target = target_path or os.environ.get("DBT_TARGET_PATH")
        given_logs = os.environ.get("DBT_LOG_PATH")
        profile_name = os.environ.get("DBT_PROFILE") or settings.get("profile") or PACKAGE_NAME
        return cls(
            project_dir=project,
            profiles_dir=profiles,
            target=target or os.environ.get("DBT_TARGET") or None,
            target_path=(
                _absolute(given_target) if given_target else _under(project, settings.get("target-path") or "target")
            ),
            log_path=_absolute(given_logs) if given_logs else _under(project, settings.get("log-path") or "logs"),
            profile_name=str(profile_name),
        )

    def dbt_args(self) -> list[str]:
        """The location flags every dbt invocation gets, so dbt and idstitch never disagree."""
        args = [
            "--project-dir", str(self.project_dir),
            "--profiles-dir", str(self.profiles_dir),
            "--target-path", str(self.target_path),
            "--log-path", str(self.log_path),
        ]
        if self.target:
            args += ["--target", self.target]
        return args


def _absolute(value: str | os.PathLike[str]) -> Path:
    return Path(value).expanduser().resolve()


def _under(base: Path, value: str | os.PathLike[str]) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path)


def _resolve_project_dir(value: str | os.PathLike[str] | None) -> Path:
    if value is not None:
        source, path = "--project-dir", Path(value).expanduser()
    elif os.environ.get("DBT_PROJECT_DIR"):
        source, path = "DBT_PROJECT_DIR", Path(os.environ["DBT_PROJECT_DIR"]).expanduser()
    else:
        source, path = "default", package_project_dir() or Path.cwd()
    path = path.resolve()
    if not (path / "dbt_project.yml").is_file():
        hint = "" if source != "default" else ": pass --project-dir (or set DBT_PROJECT_DIR)"
        raise IdstitchError(f"no dbt_project.yml in {path} ({source}){hint}")
    return path


def _project_settings(project_dir: Path) -> dict[str, Any]:
    import yaml  # a dbt dependency

    try:
        settings = yaml.safe_load((project_dir / "dbt_project.yml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise IdstitchError(f"cannot read {project_dir / 'dbt_project.yml'}: {one_line(exc)}") from None
    if not isinstance(settings, dict):
        raise IdstitchError(f"{project_dir / 'dbt_project.yml'} is not a mapping")
    # values carrying Jinja (env_var in target-path ...) are dbt's business: fall back to the defaults
    return {k: v for k, v in settings.items() if not (isinstance(v, str) and "{{" in v)}


def _resolve_profiles_dir(value: str | os.PathLike[str] | None) -> Path:
    if value is not None:
        source, path = "--profiles-dir", Path(value).expanduser()
    elif os.environ.get("DBT_PROFILES_DIR"):
        source, path = "DBT_PROFILES_DIR", Path(os.environ["DBT_PROFILES_DIR"]).expanduser()
    elif (Path.cwd() / "profiles.yml").is_file():
        source, path = "the current directory", Path.cwd()
    else:
        source, path = "dbt's default", Path.home() / ".dbt"
    path = path.resolve()
    if not (path / "profiles.yml").is_file():
        raise IdstitchError(
            f"no profiles.yml in {path} ({source}): pass --profiles-dir or set DBT_PROFILES_DIR "
            "(profiles.example.yml shows one)"
        )
    return path


# ---------------------------------------------------------------------------------------------- profile


@dataclass(frozen=True)
class Connection:
    """The rendered target of the profile: engine type, credentials (dbt's object) and names."""

    profile_name: str
    target_name: str
    type: str
    credentials: Any

    @property
    def database(self) -> str:
        return str(getattr(self.credentials, "database", "") or "")

    @property
    def schema(self) -> str:
        return str(getattr(self.credentials, "schema", "") or "")

    def describe(self) -> str:
        c = self.credentials
        if self.type == "duckdb":
            return f"duckdb {c.path}"
        if self.type == "postgres":
            return f"postgres {c.user}@{c.host}:{c.port}/{c.database}"
        return self.type


def load_connection(ctx: DbtContext, cli_vars: Mapping[str, Any] | None = None) -> Connection:
    """Render the profile the way dbt does (``env_var()``, ``var()``) and pick the target."""
    from dbt.config.profile import Profile, read_profile
    from dbt.config.renderer import ProfileRenderer
    from dbt_common.context import set_invocation_context

    set_invocation_context(dict(os.environ))
    where = ctx.profiles_dir / "profiles.yml"
    try:
        raw_profiles = read_profile(str(ctx.profiles_dir))
    except Exception as exc:
        raise IdstitchError(f"cannot read {where}: {one_line(exc)}") from None
    raw = raw_profiles.get(ctx.profile_name)
    if not isinstance(raw, dict):
        known = ", ".join(sorted(str(k) for k in raw_profiles if k != "config")) or "none"
        raise IdstitchError(f"no profile named {ctx.profile_name!r} in {where} (profiles there: {known})")
    try:
        renderer = ProfileRenderer(dict(cli_vars or {}))
        target_name, data = Profile.render_profile(raw, ctx.profile_name, ctx.target, renderer)
        data = dict(data)
        data.pop("threads", None)
        type_name = str(data.get("type", ""))
        credentials = Profile._credentials_from_profile(data, ctx.profile_name, target_name)
    except Exception as exc:
        raise IdstitchError(f"profile {ctx.profile_name!r} in {where}: {one_line(exc)}") from None
    return Connection(ctx.profile_name, str(target_name), type_name, credentials)


# ---------------------------------------------------------------------------------------------- dbt runner


@dataclass
class NodeResult:
    """One finished node of a dbt invocation, as ``run_results.json`` records it."""

    unique_id: str
    resource_type: str
    name: str
    status: str  # success, error, skipped, pass, fail, warn, no-op ...
    execution_time: float
    message: str
    failures: int | None = None


@dataclass
class InvocationResult:
    """What one dbt invocation did: success flag, the exception that stopped it, and its node results."""

    command: str
    success: bool
    exception: BaseException | None
    invocation_id: str | None
    elapsed: float | None
    nodes: list[NodeResult]

    def count(self, *statuses: str, resource_types: Sequence[str] | None = None) -> int:
        return sum(
            1 for n in self.nodes
            if n.status in statuses and (resource_types is None or n.resource_type in resource_types)
        )


EventCallback = Callable[[Any], None]

_INVOKE_LOCK = threading.Lock()


def invoke_dbt(
    ctx: DbtContext,
    command: str,
    args: Sequence[str] = (),
    cli_vars: Mapping[str, Any] | None = None,
    on_event: EventCallback | None = None,
) -> InvocationResult:
    """Run ``dbt <command> <args>`` in this process (dbt's ``dbtRunner``), quiet on stdout (dbt still
    writes its debug log to the log path); ``on_event`` sees every dbt event (a failing callback is
    ignored: it must never fail a node). One invocation at a time. The node results are read back from
    ``run_results.json`` in the target path when this invocation wrote it."""
    from dbt.cli.main import dbtRunner

    if not _INVOKE_LOCK.acquire(blocking=False):
        raise IdstitchError("another dbt invocation is running in this process")
    invocation_ids: list[str] = []  # in order seen (the first events may still carry the previous id)

    def callback(event: Any) -> None:
        try:
            invocation_id = getattr(event.info, "invocation_id", "")
            if invocation_id and (not invocation_ids or invocation_ids[-1] != invocation_id):
                invocation_ids.append(invocation_id)
            if on_event is not None:
                on_event(event)
        except Exception:  # never let the display break the build
            pass

    argv = [command, *args, *ctx.dbt_args(), "--log-level", "none"]
    if cli_vars:
        argv += ["--vars", json.dumps(dict(cli_vars))]
    try:
        with hash_key_for_sessions():
            result = dbtRunner(callbacks=[callback]).invoke(argv)
    finally:
        _release_embedded_databases()
        _INVOKE_LOCK.release()
    run_results = read_run_results(ctx.target_path)
    nodes: list[NodeResult] = []
    invocation_id = invocation_ids[-1] if invocation_ids else None
    elapsed = None
    if run_results is not None and run_results.get("metadata", {}).get("invocation_id") in invocation_ids:
        invocation_id = run_results["metadata"]["invocation_id"]
        elapsed = run_results.get("elapsed_time")
        nodes = [_node_result(r) for r in run_results.get("results", [])]
    exception = result.exception
    return InvocationResult(command, bool(result.success), exception, invocation_id, elapsed, nodes)


HASH_KEY_ENV = "IDSTITCH_HASH_KEY"
# what the Spark profile reads (README "Personal data"); dbt also scrubs DBT_ENV_SECRET_* values from its logs
SECRET_HASH_KEY_ENV = "DBT_ENV_SECRET_IDSTITCH_HASH_KEY"


@contextlib.contextmanager
def hash_key_for_sessions() -> Iterator[None]:
    """Hand ``IDSTITCH_HASH_KEY`` to the warehouse sessions dbt opens, never as part of a SQL statement
    (compiled SQL and dbt's logs stay free of it). Restored afterwards.

    - Postgres: the setting ``idstitch.hash_key`` through libpq's ``PGOPTIONS``, read when dbt connects;
    - Spark: ``DBT_ENV_SECRET_IDSTITCH_HASH_KEY``, which the profile passes as the session conf
      ``idstitch.hash_key`` (``server_side_parameters``); unless already set;
    - DuckDB: the profile plugin ``idstitch.duckdb_plugin`` reads ``IDSTITCH_HASH_KEY`` itself.
    """
    key = os.environ.get(HASH_KEY_ENV)
    if not key:
        yield
        return
    escaped = key.replace("\\", "\\\\").replace(" ", "\\ ")
    values = {"PGOPTIONS": f"{os.environ.get('PGOPTIONS', '')} -c idstitch.hash_key={escaped}".strip()}
    if not os.environ.get(SECRET_HASH_KEY_ENV):
        values[SECRET_HASH_KEY_ENV] = key
    with temporary_environment(values):
        yield


@contextlib.contextmanager
def temporary_environment(values: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` set for the duration, then restored (dbt in this process reads its
    environment per invocation)."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _node_result(raw: Mapping[str, Any]) -> NodeResult:
    unique_id = str(raw.get("unique_id", ""))
    parts = unique_id.split(".")
    resource_type = parts[0] if parts else ""
    # tests: test.<package>.<name>.<hash>; models, seeds: <type>.<package>.<name>
    name = parts[2] if len(parts) > 2 else unique_id
    failures = raw.get("failures")
    return NodeResult(
        unique_id=unique_id,
        resource_type=resource_type,
        name=name,
        status=str(raw.get("status", "")),
        execution_time=float(raw.get("execution_time") or 0.0),
        message=str(raw.get("message") or ""),
        failures=int(failures) if isinstance(failures, int) else None,
    )


def _release_embedded_databases() -> None:
    """dbt-duckdb keeps its database open in this process after a run; close it so the CLI (and anyone
    else) can open the file again."""
    module = sys.modules.get("dbt.adapters.duckdb.connections")
    manager = getattr(module, "DuckDBConnectionManager", None) if module else None
    if manager is None:
        return
    try:
        with manager._LOCK:
            env = manager._ENV
            if env is not None:
                close = getattr(env, "close", None)
                if close is not None:
                    close()
            manager._ENV = None
    except Exception:
        pass


# ---------------------------------------------------------------------------------------------- artifacts


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_run_results(target_path: Path) -> dict[str, Any] | None:
    return _read_json(target_path / "run_results.json")


def read_manifest(target_path: Path) -> dict[str, Any] | None:
    return _read_json(target_path / "manifest.json")
