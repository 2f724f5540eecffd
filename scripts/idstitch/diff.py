"""``idstitch diff``: the blast radius of a configuration change, before it is applied.

The package is built with the proposed vars (the current ones plus the changes) into a SCRATCH schema of the
same database — a temporary profiles.yml copies the target's entry as written (credentials stay templated,
``env_var()`` and all) with only ``schema`` replaced — and then compared with the production tables, in SQL,
inside the warehouse:

* persons: production ``person_identifiers`` and the scratch one joined on (identifier_type, identifier).
  A proposed person holding identifiers of several current persons is a merge; a current person whose
  identifiers land in several proposed persons is a split. Person ids are deterministic (md5 of the
  anchor identifier), so a person that keeps exactly its identifiers keeps its id: unchanged.
* events: each fact table joined on message_id; an event changes owner when its person_id differs.

Production tables and dbt artifacts are never written: the scratch build has its own target path, the
scratch schemas are checked to be disjoint from production's before anything is built, and they are
dropped afterwards (``keep_scratch`` keeps them for inspection).
"""

from __future__ import annotations

import json
import shlex
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import textfmt
from .db import PUBLISHED_MODELS, RUN_LOG_TABLE, Database, Relation, Relations, quote
from .errors import IdstitchError
from .runner import PACKAGE_NAME, Connection, DbtContext, read_manifest

SCRATCH_SUFFIX = "_idstitch_diff"
COMPARED_TABLES = ("dim_person", "person_identifiers")
FACT_TABLES = ("fct_tracks", "fct_pages", "fct_identifies")
RUN_CONFIG_MODEL = "int_idstitch__run_config"
MAX_PARTS = 10  # parts listed per merge / split example
SHOWN_PARTS = 5  # of which the text output shows
# examples: the most telling identifier of a person first
TYPE_ORDER = "case {col} when 'user_id' then 0 when 'email' then 1 when 'anonymous_id' then 3 else 2 end"


# ---------------------------------------------------------------------------------------------- scratch target


@dataclass
class Scratch:
    """The scratch build's own profile, target path and (after parsing) schemas."""

    ctx: DbtContext
    directory: Path
    schema: str
    schemas: list[str] = field(default_factory=list)  # every schema the scratch build writes to

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def scratch_context(ctx: DbtContext, conn: Connection, schema: str, log_path: Path | None = None) -> Scratch:
    """A temporary profiles dir whose one target is ``conn``'s entry as written, with ``schema`` replaced.

    Only the schema changes: credentials are copied unrendered (a password given as ``env_var()`` stays one,
    nothing secret is written that the user's file does not already hold) and the directory is private."""
    from dbt.config.profile import read_profile

    raw = read_profile(str(ctx.profiles_dir)).get(ctx.profile_name) or {}
    outputs = raw.get("outputs") if isinstance(raw, dict) else None
    entry = outputs.get(conn.target_name) if isinstance(outputs, dict) else None
    if not isinstance(entry, dict):
        raise IdstitchError(
            f"profile {ctx.profile_name!r}: no target {conn.target_name!r} to copy for the scratch build"
        )
    entry = {**entry, "schema": schema}
    entry.pop("dataset", None)
    directory = Path(tempfile.mkdtemp(prefix="idstitch-diff-"))  # mode 0700
    profiles = {ctx.profile_name: {"target": conn.target_name, "outputs": {conn.target_name: entry}}}
    path = directory / "profiles.yml"
    path.write_text(json.dumps(profiles, indent=2, default=str) + "\n", encoding="utf-8")  # JSON is YAML
    path.chmod(0o600)
    scratch_ctx = DbtContext(
        project_dir=ctx.project_dir,
        profiles_dir=directory,
        target=conn.target_name,
        target_path=directory / "target",
        log_path=log_path or ctx.log_path,
        profile_name=ctx.profile_name,
    )
    return Scratch(scratch_ctx, directory, schema)


def manifest_schemas(target_path: Path) -> dict[str, set[str]]:
    """Schema -> names of the relations the package's models and seeds write there (from manifest.json)."""
    manifest = read_manifest(target_path) or {}
    out: dict[str, set[str]] = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") not in ("model", "seed", "snapshot"):
            continue
        if node.get("config", {}).get("enabled") is False or node.get("schema") is None:
            continue
        out.setdefault(str(node["schema"]), set()).add(str(node.get("alias") or node.get("name")))
    return out


def production_schemas(ctx: DbtContext, conn: Connection, rels: Relations) -> set[str]:
    """Every schema production's build writes to: the manifest's, the published tables', the profile's."""
    schemas = {rels[name].schema for name in PUBLISHED_MODELS if name in rels}
    schemas |= {conn.schema, f"{conn.schema}_idstitch_internal"}
    manifest = read_manifest(ctx.target_path)
    if manifest and manifest.get("metadata", {}).get("adapter_type") == conn.type:
        schemas |= set(manifest_schemas(ctx.target_path))
    return {s for s in schemas if s}


def check_disjoint(scratch: Scratch, production: set[str]) -> None:
    lowered = {s.lower() for s in production}
    clash = sorted(s for s in scratch.schemas if s.lower() in lowered)
    if clash:
        raise IdstitchError(
            f"the scratch build would write to {', '.join(clash)}, where production lives: "
            "pass another --scratch-schema"
        )


def schema_tables(db: Database, schema: str) -> list[str]:
    rows = db.query("select table_name from information_schema.tables where table_schema = ?", [schema])
    return sorted(str(r["table_name"]) for r in rows)


def schema_exists(db: Database, schema: str) -> bool:
    return bool(db.query("select 1 as x from information_schema.schemata where schema_name = ?", [schema]))


def clear_leftovers(db: Database, scratch: Scratch, planned: Mapping[str, set[str]]) -> None:
    """Drop scratch schemas left by an earlier diff (``--keep-scratch``, an interrupted run). A schema that
    holds anything but the package's own relations (or the closure's working tables) is not ours: refuse."""
    for schema in scratch.schemas:
        if not schema_exists(db, schema):
            continue
        names = planned.get(schema, set()) | {RUN_LOG_TABLE}  # the run log: dbt's on-run-start writes it
        foreign = [t for t in schema_tables(db, schema) if not any(t == n or t.startswith(f"{n}__") for n in names)]
        if foreign:
            shown = ", ".join(foreign[:5]) + (", …" if len(foreign) > 5 else "")
            raise IdstitchError(
                f"scratch schema {schema} already exists and holds tables idstitch did not build ({shown}): "
                "pass another --scratch-schema"
            )
        drop_schemas(db, [schema])


def drop_schemas(db: Database, schemas: Iterable[str]) -> None:
    for schema in schemas:
        db.execute(f"drop schema if exists {quote(schema)} cascade")


# ---------------------------------------------------------------------------------------------- comparison


def _person_ctes(current: Relation, proposed: Relation) -> str:
    return f"""
with cur as (
    select identifier_type, identifier, person_id from {current}
),
pro as (
    select identifier_type, identifier, person_id from {proposed}
),
pairs as (
    select cur.person_id as cur_id, pro.person_id as pro_id, count(*) as n
    from cur
    inner join pro on cur.identifier_type = pro.identifier_type and cur.identifier = pro.identifier
    group by cur.person_id, pro.person_id
),
cur_size as (select person_id, count(*) as n from cur group by person_id),
pro_size as (select person_id, count(*) as n from pro group by person_id),
fan_out as (
    select cur_id, count(*) as k, sum(n) as shared, min(pro_id) as pro_id from pairs group by cur_id
),
fan_in as (
    select pro_id, count(*) as k, sum(n) as shared, min(cur_id) as cur_id from pairs group by pro_id
),
cur_class as (
    select
        cur_size.person_id,
        case
            when fan_out.cur_id is null then 'gone'
            when fan_out.k > 1 then 'split'
            when fan_in.k > 1 then 'merged'
            when fan_out.pro_id = cur_size.person_id and fan_out.shared = cur_size.n
                and pro_size.n = cur_size.n then 'unchanged'
            when fan_out.pro_id <> cur_size.person_id then 'reanchored'
            else 'changed'
        end as change
    from cur_size
    left join fan_out on fan_out.cur_id = cur_size.person_id
    left join fan_in on fan_in.pro_id = fan_out.pro_id
    left join pro_size on pro_size.person_id = fan_out.pro_id
)"""


def compare_persons(db: Database, current: Relations, proposed: Relations, examples: int) -> dict[str, Any]:
    ctes = _person_ctes(current["person_identifiers"], proposed["person_identifiers"])
    classes = {"merged": 0, "split": 0, "reanchored": 0, "changed": 0, "unchanged": 0, "gone": 0}
    for row in db.query(f"{ctes} select change, count(*) as n from cur_class group by change"):
        classes[str(row["change"])] = int(row["n"])
    sides = db.query(f"""{ctes}
select
    (select count(*) from cur_size) as current_persons,
    (select count(*) from pro_size) as proposed_persons,
    (select count(*) from fan_in where k > 1) as merges,
    (select count(distinct cur_id) from pairs where pro_id in (select pro_id from fan_in where k > 1))
        as merged_current_persons,
    (select count(*) from fan_out where k > 1) as splits,
    (select count(distinct pro_id) from pairs where cur_id in (select cur_id from fan_out where k > 1))
        as split_proposed_persons,
    (select count(*) from pro_size where person_id not in (select pro_id from pairs)) as new_persons""")[0]
    totals = {k: int(v or 0) for k, v in sides.items()}

    # identifiers in one graph only: quarantined, no longer (or newly) an identifier
    only: dict[str, dict[str, int]] = {"current": {}, "proposed": {}}
    cur_rel, pro_rel = current["person_identifiers"], proposed["person_identifiers"]
    for side, this, other in (("current", cur_rel, pro_rel), ("proposed", pro_rel, cur_rel)):
        for row in db.query(
            f"select this.identifier_type, count(*) as n from {this} as this "
            f"left join {other} as other on other.identifier_type = this.identifier_type "
            "and other.identifier = this.identifier "
            "where other.identifier is null group by this.identifier_type order by this.identifier_type"
        ):
            only[side][str(row["identifier_type"])] = int(row["n"])

    merges = _examples(db, ctes, "pro_id", "cur_id", "fan_in", examples)
    splits = _examples(db, ctes, "cur_id", "pro_id", "fan_out", examples)
    return {
        **totals,
        "current_persons_by_change": classes,
        "identifiers_only_current": only["current"],
        "identifiers_only_proposed": only["proposed"],
        "merge_examples": [
            {"proposed_person_id": k, "current_persons_total": v["parts_total"], "current_persons": v["parts"]}
            for k, v in merges
        ],
        "split_examples": [
            {"current_person_id": k, "proposed_persons_total": v["parts_total"], "proposed_persons": v["parts"]}
            for k, v in splits
        ],
    }


def _examples(
    db: Database, ctes: str, whole: str, part: str, fan: str, limit: int
) -> list[tuple[str, dict[str, Any]]]:
    """The ``limit`` largest merges (whole = pro_id) or splits (whole = cur_id): each part with its share of
    identifiers and one example identifier (user ids first, then e-mails, other traits, anonymous ids); at
    most MAX_PARTS parts each, the largest first (``parts_total`` counts them all)."""
    if limit < 1:
        return []
    rows = db.query(f"""{ctes},
chosen as (
    select {whole} from {fan} where k > 1 order by k desc, {whole} limit {int(limit)}
),
ranked as (
    select
        cur.person_id as cur_id, pro.person_id as pro_id, cur.identifier_type, cur.identifier,
        row_number() over (
            partition by cur.person_id, pro.person_id
            order by {TYPE_ORDER.format(col='cur.identifier_type')}, cur.identifier
        ) as rn
    from cur
    inner join pro on cur.identifier_type = pro.identifier_type and cur.identifier = pro.identifier
    where {'pro' if whole == 'pro_id' else 'cur'}.person_id in (select {whole} from chosen)
),
parts as (
    select
        ranked.{whole} as whole_id, ranked.{part} as part_id, pairs.n, fan.k,
        ranked.identifier_type, ranked.identifier,
        row_number() over (partition by ranked.{whole} order by pairs.n desc, ranked.{part}) as part_rank
    from ranked
    inner join pairs on pairs.cur_id = ranked.cur_id and pairs.pro_id = ranked.pro_id
    inner join {fan} as fan on fan.{whole} = ranked.{whole}
    where ranked.rn = 1
)
select * from parts
where part_rank <= {MAX_PARTS}
order by k desc, whole_id, part_rank""")
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = out.setdefault(str(row["whole_id"]), {"parts_total": int(row["k"]), "parts": []})
        entry["parts"].append({
            "person_id": str(row["part_id"]),
            "identifiers": int(row["n"]),
            "example": {"identifier_type": str(row["identifier_type"]), "identifier": str(row["identifier"])},
        })
    return list(out.items())


def compare_events(db: Database, current: Relations, proposed: Relations) -> dict[str, Any]:
    """Per fact table and per (current → proposed) attribution method: events, and those changing owner."""
    tables: list[dict[str, Any]] = []
    methods: dict[tuple[str, str], dict[str, int]] = {}
    present_current = db.existing(current[t] for t in FACT_TABLES if t in current)
    present_proposed = db.existing(proposed[t] for t in FACT_TABLES if t in proposed)
    for name in FACT_TABLES:
        cur, pro = current.get(name), proposed.get(name)
        if cur not in present_current and pro not in present_proposed:
            continue
        stats = {"table": name, "events": 0, "changing_owner": 0, "only_in_current": 0, "only_in_proposed": 0}
        if cur not in present_current or pro not in present_proposed:  # e.g. pages switched on or off
            there = cur if cur in present_current else pro
            key = "only_in_current" if cur in present_current else "only_in_proposed"
            stats[key] = int(db.query(f"select count(*) as n from {there}")[0]["n"])
            tables.append(stats)
            continue
        for row in db.query(f"""
select
    c.attribution_method as current_method,
    p.attribution_method as proposed_method,
    count(*) as events,
    sum(case when c.message_id is not null and p.message_id is not null
             and c.person_id <> p.person_id then 1 else 0 end) as moved,
    sum(case when c.message_id is null then 1 else 0 end) as only_proposed,
    sum(case when p.message_id is null then 1 else 0 end) as only_current
from {cur} as c
full outer join {pro} as p on c.message_id = p.message_id
group by c.attribution_method, p.attribution_method"""):
            events, moved = int(row["events"]), int(row["moved"] or 0)
            only_c, only_p = int(row["only_current"] or 0), int(row["only_proposed"] or 0)
            stats["events"] += events - only_c - only_p
            stats["changing_owner"] += moved
            stats["only_in_current"] += only_c
            stats["only_in_proposed"] += only_p
            if only_c or only_p:
                continue
            pair = (str(row["current_method"]), str(row["proposed_method"]))
            entry = methods.setdefault(pair, {"events": 0, "changing_owner": 0})
            entry["events"] += events
            entry["changing_owner"] += moved
        tables.append(stats)
    by_method = [
        {"current_method": c, "proposed_method": p, **v}
        for (c, p), v in sorted(methods.items(), key=lambda kv: (-kv[1]["changing_owner"], kv[0]))
        if v["changing_owner"] or c != p
    ]
    total = sum(t["events"] for t in tables)
    moved = sum(t["changing_owner"] for t in tables)
    return {"events": total, "changing_owner": moved, "by_table": tables, "by_method": by_method}


def run_config_differences(
    db: Database, production: Relation | None, scratch: Relation | None, proposed_names: Iterable[str]
) -> list[dict[str, str]]:
    """Stored settings where production and the proposal differ although the proposal did not change them:
    the current vars given (``--base-vars``) are not the ones production was built with."""
    if production is None or scratch is None:
        return []
    if len(db.existing([production, scratch])) < 2:
        return []
    changed = set(proposed_names)
    before = {str(r["setting"]): str(r["setting_value"]) for r in db.query(f"select * from {production}")}
    after = {str(r["setting"]): str(r["setting_value"]) for r in db.query(f"select * from {scratch}")}
    return [
        {"setting": name, "production": before[name], "base": after[name]}
        for name in sorted(before.keys() & after.keys())
        if before[name] != after[name] and name not in changed
    ]


def model_relation(target_path: Path, conn: Connection, model: str) -> Relation | None:
    """Where a package model lives, from manifest.json (None when the manifest is not this target's)."""
    manifest = read_manifest(target_path)
    if not manifest or manifest.get("metadata", {}).get("adapter_type") != conn.type:
        return None
    node = manifest.get("nodes", {}).get(f"model.{PACKAGE_NAME}.{model}")
    if not node:
        return None
    return Relation(str(node.get("database") or ""), str(node.get("schema") or ""), str(node.get("alias") or model))


# ---------------------------------------------------------------------------------------------- text output


def _explain_hint(examples: Sequence[Mapping[str, Any]]) -> str:
    ids = [f"{e['example']['identifier_type']}:{e['example']['identifier']}" for e in examples[:2]]
    return "idstitch explain " + " ".join(shlex.quote(i) for i in ids)


def _example_line(part: Mapping[str, Any], arrow: str) -> str:
    ex = part["example"]
    return (f"    {arrow} {part['person_id']}  {textfmt.plural(int(part['identifiers']), 'identifier')}, "
            f"e.g. {ex['identifier_type']} {ex['identifier']}")


def _parts(parts: Sequence[Mapping[str, Any]], total: int, arrow: str, noun: str) -> list[str]:
    lines = [_example_line(part, arrow) for part in parts[:SHOWN_PARTS]]
    if total > SHOWN_PARTS:
        lines.append(f"    … {textfmt.plural(total - SHOWN_PARTS, 'more ' + noun)}")
    lines.append(f"    $ {_explain_hint(parts)}")
    return lines


def format_diff(result: Mapping[str, Any]) -> str:
    p, e = result["persons"], result["events"]
    cls = p["current_persons_by_change"]
    lines = [
        f"persons (with identifiers)   {p['current_persons']:,} now → {p['proposed_persons']:,} proposed",
        f"  merged      {textfmt.plural(p['merges'], 'proposed person')} would join "
        f"{textfmt.plural(p['merged_current_persons'], 'current person')}",
        f"  split       {textfmt.plural(p['splits'], 'current person')} would fall apart into "
        f"{textfmt.plural(p['split_proposed_persons'], 'proposed person')}",
        f"  re-anchored {textfmt.plural(cls['reanchored'], 'person')} would stay together under a new "
        "person id (anchor identifier gone or no longer first)",
        f"  changed     {textfmt.plural(cls['changed'], 'person')} would keep their id but gain or lose identifiers",
        f"  unchanged   {textfmt.plural(cls['unchanged'], 'person')} (same identifiers, same person id)",
    ]
    if cls["gone"]:
        lines.append(f"  gone        {textfmt.plural(cls['gone'], 'current person')} with no identifier left "
                     "in the proposal")
    if p["new_persons"]:
        lines.append(f"  new         {textfmt.plural(p['new_persons'], 'proposed person')} of identifiers "
                     "new to the graph")

    def by_type(counts: Mapping[str, int]) -> str:
        return ", ".join(f"{t} {n:,}" for t, n in counts.items()) or "none"

    lines.append(f"identifiers  leaving the graph: {by_type(p['identifiers_only_current'])}; "
                 f"joining it: {by_type(p['identifiers_only_proposed'])}")
    share = textfmt.share(e["changing_owner"] / e["events"] if e["events"] else None)
    lines += ["", f"events changing owner   {e['changing_owner']:,} of {e['events']:,} ({share})"]
    rows = [[t["table"], f"{t['events']:,}", f"{t['changing_owner']:,}"] for t in e["by_table"]]
    lines += ["", textfmt.table(["table", "events", "changing owner"], rows, right=(1, 2), indent="  ")]
    only = [t for t in e["by_table"] if t.get("only_in_current") or t.get("only_in_proposed")]
    for t in only:
        lines.append(f"  {t['table']}: {t.get('only_in_current', 0):,} events only now, "
                     f"{t.get('only_in_proposed', 0):,} only in the proposal")
    if e["by_method"]:
        rows = [[m["current_method"], m["proposed_method"], f"{m['events']:,}", f"{m['changing_owner']:,}"]
                for m in e["by_method"]]
        lines += ["", textfmt.table(["attribution now", "proposed", "events", "changing owner"], rows,
                                    right=(2, 3), indent="  ")]

    merges, splits = p["merge_examples"], p["split_examples"]
    if merges:
        lines += ["", f"merges ({len(merges)} of {p['merges']:,}, largest first; explain shows what keeps "
                      "them apart today):"]
        for m in merges:
            lines.append(f"  proposed person {m['proposed_person_id']} ← "
                         f"{textfmt.plural(m['current_persons_total'], 'current person')}")
            lines += _parts(m["current_persons"], m["current_persons_total"], "←", "current person")
    if splits:
        lines += ["", f"splits ({len(splits)} of {p['splits']:,}, largest first; explain shows what joins "
                      "them today):"]
        for split in splits:
            lines.append(f"  current person {split['current_person_id']} → "
                         f"{textfmt.plural(split['proposed_persons_total'], 'proposed person')}")
            lines += _parts(split["proposed_persons"], split["proposed_persons_total"], "→", "proposed person")
    return "\n".join(lines)
