"""What a run did (``idstitch run``'s summary) and the merge checks (``idstitch validate``).

Both read the published tables only. Validations are appended to ``idstitch_validations`` (next to
``dim_person``), one row per check, so trends show and each run is compared with the previous one.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from . import textfmt
from .db import Database, Relations, utc_now
from .errors import IdstitchError, json_object_arg

CHANGE_KINDS = ("birth", "merge", "split", "reanchor", "quarantine")
LINK_REASONS = ("hub_identifier", "identifier_shared_by_user_ids", "ambiguous_bridge", "joins_different_user_ids")
IDENTIFIER_REASONS = ("hub_identifier", "identifier_shared_by_user_ids")


# ---------------------------------------------------------------------------------------------- shared reads


def latest_invocation(db: Database, rels: Relations) -> dict[str, Any] | None:
    """The newest run recorded in closure_runs: ``{invocation_id, run_started_at}``."""
    rows = db.query(
        f"select invocation_id, max(run_started_at) as run_started_at from {rels['closure_runs']} "
        "group by invocation_id order by max(run_started_at) desc, invocation_id limit 1"
    )
    return rows[0] if rows else None


def closure_rounds(db: Database, rels: Relations, invocation_id: str) -> list[dict[str, Any]]:
    return db.query(
        f"select closure_name, rounds, converged, input_links, identifiers from {rels['closure_runs']} "
        "where invocation_id = ? order by closure_name desc",
        [invocation_id],
    )


def person_counts(db: Database, rels: Relations) -> dict[str, Any]:
    row = db.query(
        "select count(*) as persons, "
        "coalesce(sum(case when is_identified then 1 else 0 end), 0) as identified_persons, "
        "coalesce(sum(n_events), 0) as events, "
        "coalesce(sum(case when is_identified then n_events else 0 end), 0) as identified_events "
        f"from {rels['dim_person']}"
    )[0]
    return {k: int(v or 0) for k, v in row.items()}


def changes_of(db: Database, rels: Relations, invocation_id: str | None) -> dict[str, int]:
    counts = dict.fromkeys(CHANGE_KINDS, 0)
    if invocation_id is None:
        return counts
    for row in db.query(
        f"select change_kind, count(*) as n from {rels['person_changes']} where invocation_id = ? group by change_kind",
        [invocation_id],
    ):
        counts[str(row["change_kind"])] = int(row["n"])
    return counts


def refusal_counts(db: Database, rels: Relations) -> dict[str, dict[str, int]]:
    """``{"link": {reason: n}, "identifier": {reason: n}}`` with every known reason present."""
    out = {"link": dict.fromkeys(LINK_REASONS, 0), "identifier": dict.fromkeys(IDENTIFIER_REASONS, 0)}
    for row in db.query(
        f"select refusal_kind, reason, count(*) as n from {rels['identity_refusals']} group by refusal_kind, reason"
    ):
        out.setdefault(str(row["refusal_kind"]), {})[str(row["reason"])] = int(row["n"])
    return out


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# ---------------------------------------------------------------------------------------------- run summary

SUMMARY_TABLES = ("dim_person", "closure_runs", "person_changes", "identity_refusals")


def run_summary(db: Database, rels: Relations, invocation_id: str | None) -> dict[str, Any]:
    """The figures ``idstitch run`` prints after the build (this invocation's closure and changes)."""
    db.require(rels, SUMMARY_TABLES)
    rounds = closure_rounds(db, rels, invocation_id) if invocation_id else []
    closure_invocation = invocation_id if rounds else None
    if not rounds:  # e.g. --select without the closure: show the newest closure instead
        latest = latest_invocation(db, rels)
        if latest is not None:
            closure_invocation = str(latest["invocation_id"])
            rounds = closure_rounds(db, rels, closure_invocation)
    counts = person_counts(db, rels)
    return {
        "invocation_id": invocation_id,
        "closure_invocation_id": closure_invocation,
        "closure": rounds,
        **counts,
        "identified_person_share": _ratio(counts["identified_persons"], counts["persons"]),
        "identified_event_share": _ratio(counts["identified_events"], counts["events"]),
        "changes": changes_of(db, rels, invocation_id),
        "refusals": refusal_counts(db, rels),
    }


def _by_reason(counts: Mapping[str, int]) -> str:
    parts = [f"{reason} {n:,}" for reason, n in counts.items() if n]
    return f" ({', '.join(parts)})" if parts else ""


def format_run_summary(summary: Mapping[str, Any]) -> str:
    rounds = summary["closure"]
    if rounds:
        closure = ", ".join(f"{r['closure_name']} {textfmt.plural(int(r['rounds']), 'round')}" for r in rounds)
        converged = all(bool(r["converged"]) for r in rounds)
        closure += " (converged)" if converged else " (NOT converged)"
        if summary["closure_invocation_id"] != summary["invocation_id"]:
            closure += f" [closure not run now; latest: {str(summary['closure_invocation_id'])[:8]}]"
    else:
        closure = "no closure recorded yet"
    changes = summary["changes"]
    change_text = ", ".join(
        textfmt.plural(changes[kind], label, many)
        for kind, label, many in (
            ("merge", "merge", None), ("split", "split", None), ("birth", "new person", "new persons"),
            ("reanchor", "re-anchored", "re-anchored"), ("quarantine", "quarantine", None),
        )
    )
    links = summary["refusals"].get("link", {})
    idents = summary["refusals"].get("identifier", {})
    lines = [
        f"closure rounds   {closure}",
        f"persons          {summary['persons']:,}: {summary['identified_persons']:,} identified "
        f"({textfmt.share(summary['identified_person_share'])}), "
        f"{summary['persons'] - summary['identified_persons']:,} anonymous",
        f"events           {summary['events']:,}: {textfmt.share(summary['identified_event_share'])} "
        "attributed to an identified person",
        f"this run         {change_text}",
        f"refused links    {sum(links.values()):,}{_by_reason(links)}",
        f"quarantined      {textfmt.plural(sum(idents.values()), 'identifier')}{_by_reason(idents)}",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- validate


@dataclass(frozen=True)
class CheckSpec:
    direction: str  # "max": value must be <= threshold; "min": value must be >= threshold
    default: float | None
    description: str
    is_share: bool = False


CHECKS: dict[str, CheckSpec] = {
    "largest_person_identifiers": CheckSpec("max", 200, "identifiers of the largest person"),
    "largest_person_anonymous_ids": CheckSpec("max", 100, "anonymous ids of the largest person"),
    "unaliased_multi_user_persons": CheckSpec("max", 0, "persons with user ids no alias joins (must be 0)"),
    "junk_identifiers": CheckSpec("max", 0, "junk values present in the graph (must be 0)"),
    "events_not_exactly_once": CheckSpec("max", 0, "source messages missing from or doubled in the facts"),
    "links_across_persons": CheckSpec("max", 0, "accepted links whose ends are in different persons"),
    "identified_event_share": CheckSpec("min", None, "share of events attributed to an identified person", True),
    "persons": CheckSpec("max", None, "persons in dim_person"),
    "persons_merged_last_run": CheckSpec("max", None, "merge rows of the latest run in person_changes"),
    "persons_split_last_run": CheckSpec("max", None, "split rows of the latest run in person_changes"),
    "refused_links": CheckSpec("max", None, "links refused by a guard (identity_refusals)"),
    "quarantined_identifiers": CheckSpec("max", None, "identifiers quarantined (hubs, shared by user ids)"),
}
# per-reason checks, e.g. refused_links.hub_identifier: limits may be set on these too
REASON_PREFIXES = ("refused_links.", "quarantined_identifiers.")
VIOLATION_CHECKS = {
    "unaliased_user_ids": "unaliased_multi_user_persons",
    "junk_identifier": "junk_identifiers",
    "event_not_exactly_once": "events_not_exactly_once",
    "link_across_persons": "links_across_persons",
}
VALIDATE_TABLES = (
    "dim_person", "person_identifiers", "identity_refusals", "person_changes", "closure_runs", "idstitch_violations",
)


def spec_of(check: str) -> CheckSpec:
    if check in CHECKS:
        return CHECKS[check]
    prefix = next((p for p in REASON_PREFIXES if check.startswith(p)), None)
    if prefix is None:
        raise KeyError(check)
    return CheckSpec("max", None, f"{CHECKS[prefix[:-1]].description}: {check[len(prefix):]}")


def parse_thresholds(text: str | None) -> dict[str, float | None]:
    """``--thresholds`` JSON: ``{check: limit or null}`` merged over the defaults."""
    limits = {name: spec.default for name, spec in CHECKS.items()}
    if text is None:
        return limits
    given = json_object_arg(text, "--thresholds", '{"largest_person_identifiers": 500}')
    for name, value in given.items():
        try:
            spec_of(name)
        except KeyError:
            known = ", ".join([*CHECKS, "refused_links.<reason>", "quarantined_identifiers.<reason>"])
            raise IdstitchError(f"--thresholds: unknown check {name!r} (checks: {known})") from None
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if value is not None and not (numeric and math.isfinite(value)):
            raise IdstitchError(f"--thresholds: the limit of {name!r} must be a number or null, got {value!r}")
        limits[name] = value
    return limits


@dataclass
class CheckResult:
    check: str
    value: float | None
    threshold: float | None
    direction: str
    passed: bool
    detail: str = ""
    previous: float | None = None
    change: float | None = None
    is_share: bool = False


@dataclass
class Validation:
    validation_id: str
    validated_at: Any
    invocation_id: str | None
    run_started_at: Any
    checks: list[CheckResult] = field(default_factory=list)
    previous_validation_id: str | None = None
    previous_validated_at: Any = None
    stored_in: str | None = None

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    def to_json(self) -> dict[str, Any]:
        return {
            "validation_id": self.validation_id,
            "validated_at": textfmt.ts(self.validated_at),
            "invocation_id": self.invocation_id,
            "run_started_at": textfmt.ts(self.run_started_at),
            "passed": not self.failed,
            "previous_validation_id": self.previous_validation_id,
            "previous_validated_at": textfmt.ts(self.previous_validated_at) or None,
            "stored_in": self.stored_in,
            "checks": [asdict(c) for c in self.checks],
        }


def _largest(db: Database, rels: Relations, where: str) -> tuple[int, str]:
    rows = db.query(
        f"select person_id, count(*) as n from {rels['person_identifiers']} {where} "
        "group by person_id order by count(*) desc, person_id limit 1"
    )
    if not rows:
        return 0, ""
    # the person id only: user ids and e-mails stay out of output and stored validations (look the
    # person up in dim_person, or `idstitch explain` one of its identifiers)
    return int(rows[0]["n"]), f"person {str(rows[0]['person_id'])[:12]}…"


def measure(db: Database, rels: Relations) -> tuple[dict[str, tuple[float | None, str]], dict[str, Any] | None]:
    """Every check's value (and a detail), and the run they describe."""
    db.require(rels, VALIDATE_TABLES)
    values: dict[str, tuple[float | None, str]] = {}
    values["largest_person_identifiers"] = _largest(db, rels, "")
    values["largest_person_anonymous_ids"] = _largest(db, rels, "where identifier_type = 'anonymous_id'")
    violations = {
        str(r["violation"]): int(r["n"])
        for r in db.query(f"select violation, count(*) as n from {rels['idstitch_violations']} group by violation")
    }
    for violation, check in VIOLATION_CHECKS.items():
        n = violations.pop(violation, 0)
        values[check] = (n, "see idstitch_violations" if n else "")
    counts = person_counts(db, rels)
    values["identified_event_share"] = (
        _ratio(counts["identified_events"], counts["events"]),
        f"{counts['identified_events']:,} of {counts['events']:,} events",
    )
    values["persons"] = (counts["persons"], f"{counts['identified_persons']:,} identified")
    latest = latest_invocation(db, rels)
    changes = changes_of(db, rels, str(latest["invocation_id"]) if latest else None)
    run_label = f"run {str(latest['invocation_id'])[:8]}" if latest else "no run recorded"
    values["persons_merged_last_run"] = (changes["merge"], run_label)
    values["persons_split_last_run"] = (changes["split"], run_label)
    refusals = refusal_counts(db, rels)
    for kind, check in (("link", "refused_links"), ("identifier", "quarantined_identifiers")):
        by_reason = refusals.get(kind, {})
        values[check] = (sum(by_reason.values()), "")
        for reason, n in by_reason.items():
            values[f"{check}.{reason}"] = (n, "")
    for violation, n in violations.items():  # a kind of violation this CLI does not know yet
        values[f"violations.{violation}"] = (n, "see idstitch_violations")
    return values, latest


def _passes(value: float | None, threshold: float | None, direction: str) -> bool:
    if threshold is None:
        return True
    if value is None:
        return direction == "max"
    return value <= threshold if direction == "max" else value >= threshold


def _ensure_validations_table(db: Database, rels: Relations) -> None:
    db.execute(
        f"create table if not exists {rels.validations} ("
        "validated_at timestamp, validation_id text, invocation_id text, check_name text, "
        "value double precision, threshold double precision, passed boolean, detail text)"
    )


def _number(value: Any) -> float | None:
    """A stored value back as it was measured: whole numbers as int."""
    if value is None:
        return None
    value = float(value)
    return int(value) if value.is_integer() else value


def _previous(db: Database, rels: Relations) -> tuple[str | None, Any, dict[str, float | None]]:
    if not db.existing([rels.validations]):
        return None, None, {}
    rows = db.query(
        f"select validation_id, validated_at from {rels.validations} "
        "order by validated_at desc, validation_id desc limit 1"
    )
    if not rows:
        return None, None, {}
    validation_id, validated_at = str(rows[0]["validation_id"]), rows[0]["validated_at"]
    values = {
        str(r["check_name"]): _number(r["value"])
        for r in db.query(f"select check_name, value from {rels.validations} where validation_id = ?", [validation_id])
    }
    return validation_id, validated_at, values


def validate(
    db: Database, rels: Relations, thresholds: Mapping[str, float | None], store: bool = True
) -> Validation:
    """Measure, compare with the previous stored validation, judge against ``thresholds``, store."""
    values, latest = measure(db, rels)
    previous_id, previous_at, previous = _previous(db, rels)
    validation = Validation(
        validation_id=str(uuid.uuid4()),
        validated_at=utc_now(),
        invocation_id=str(latest["invocation_id"]) if latest else None,
        run_started_at=latest["run_started_at"] if latest else None,
        previous_validation_id=previous_id,
        previous_validated_at=previous_at,
    )
    for check, (value, detail) in values.items():
        spec = spec_of(check) if not check.startswith("violations.") else CheckSpec("max", 0, check)
        threshold = thresholds.get(check, spec.default)
        before = previous.get(check)
        validation.checks.append(
            CheckResult(
                check=check,
                value=value,
                threshold=threshold,
                direction=spec.direction,
                passed=_passes(value, threshold, spec.direction),
                detail=detail,
                previous=before,
                change=None if value is None or before is None else _number(value - before),
                is_share=spec.is_share,
            )
        )
    if store:
        _ensure_validations_table(db, rels)
        db.executemany(
            f"insert into {rels.validations} (validated_at, validation_id, invocation_id, check_name, value, "
            "threshold, passed, detail) values (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (validation.validated_at, validation.validation_id, validation.invocation_id, c.check,
                 None if c.value is None else float(c.value), c.threshold, c.passed, c.detail or None)
                for c in validation.checks
            ],
        )
        validation.stored_in = rels.validations.display
    return validation


def _value(value: float | None, is_share: bool) -> str:
    return textfmt.share(value) if is_share else textfmt.number(value)


def _limit(c: CheckResult) -> str:
    if c.threshold is None:
        return ""
    return ("≤ " if c.direction == "max" else "≥ ") + _value(c.threshold, c.is_share)


def _change(c: CheckResult) -> str:
    if c.change is None:
        return ""
    if c.is_share:
        return f"{100 * c.change:+.1f} pp"
    if c.change == 0:
        return "0"
    return ("+" if c.change > 0 else "−") + textfmt.number(abs(c.change))


def format_validation(v: Validation) -> str:
    rows = [
        (
            c.check,
            _value(c.value, c.is_share),
            _limit(c),
            "" if c.previous is None and c.change is None else _value(c.previous, c.is_share),
            _change(c),
            ("ok" if c.threshold is not None else "") if c.passed else "FAIL",
            c.detail,
        )
        for c in v.checks
    ]
    header = ("check", "value", "limit", "previous", "change", "result", "detail")
    out = [textfmt.table(header, rows, right=(1, 2, 3, 4))]
    limited = sum(1 for c in v.checks if c.threshold is not None)
    out.append("")
    if v.failed:
        for c in v.failed:
            out.append(f"FAILED  {c.check} = {_value(c.value, c.is_share)}, limit {_limit(c)}")
    else:
        out.append(f"all {limited} limits hold ({len(v.checks)} checks)")
    if v.stored_in:
        out.append(f"stored as validation {v.validation_id} in {v.stored_in}")
    if v.previous_validation_id:
        out.append(f"compared with validation {v.previous_validation_id} of {textfmt.ts(v.previous_validated_at)}")
    else:
        out.append("no previous validation stored: nothing to compare with yet")
    return "\n".join(out)


def failure_line(v: Validation) -> str:
    parts = [
        f"{c.check} {_value(c.value, c.is_share)} {'>' if c.direction == 'max' else '<'} "
        f"{_value(c.threshold, c.is_share)}"
        for c in v.failed
    ]
    return f"{textfmt.plural(len(parts), 'check')} failed: " + "; ".join(parts)
