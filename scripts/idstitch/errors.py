"""The one exception type the CLI turns into a one-line message and exit code 2."""

from __future__ import annotations

import json
import re
from typing import Any


class IdstitchError(Exception):
    """Bad input or an unusable environment (no profile, no database, no tables): exit 2, one line."""


def one_line(text: object, limit: int = 600) -> str:
    """``text`` collapsed onto one line (dbt and database messages span several), cut at ``limit``."""
    lines = [line.strip() for line in str(text).splitlines()]
    # dbt wraps messages in headers ("Encountered an error:", "Runtime Error") and macro call stacks ("> in macro")
    kept = [
        line for line in lines
        if line and not line.startswith(">") and line not in {"Encountered an error:", "Runtime Error"}
    ]
    flat = re.sub(r"\s+", " ", " ".join(kept)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def json_object_arg(text: str, flag: str, example: str = '{"name": value}') -> dict[str, Any]:
    """A command-line option holding a JSON object (``--vars``, ``--thresholds``), or a one-line error."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise IdstitchError(f"{flag} is not valid JSON ({exc}): {text!r}") from None
    if not isinstance(value, dict):
        raise IdstitchError(f"{flag} must be a JSON object like '{example}', got {text!r}")
    return value
