"""Stitching quality against the demo data's ground truth, computed in the warehouse (DuckDB or Postgres).

Pairwise metrics over messages (tracks, pages and identifies; aliases have no fact table): a pair of
messages is *predicted* together when both get the same person and *truly* together when both have the same
``true_person``. From the contingency counts ``n(pred, true)`` of the messages::

    together in both   TP   = Σ C(n(pred, true), 2)
    predicted pairs    PP   = Σ C(n(pred), 2)
    true pairs         TT   = Σ C(n(true), 2)
    precision = TP / PP,  recall = TP / TT,  F1 = 2 P R / (P + R)

(no pair is ever enumerated; with no predicted pair precision is 1, with no true pair recall is 1).

Three predictions are scored:

* ``idstitch``: ``person_id`` of ``fct_tracks`` / ``fct_pages`` / ``fct_identifies`` in the output schema,
  joined on (source table, message id). A truth message missing from the output counts as its own
  singleton (and is reported); a message id present twice takes its smallest person id (also reported).
* ``one_hop``: the common naive query: every anonymous id is mapped to its latest user id (by
  ``timestamp``, among tracks/pages/identifies rows that have both), and a message's person is
  ``coalesce(user_id, mapped user id, anonymous_id, message id)``. No junk cleaning, no aliases, no e-mail.
  Junk ids dominate its errors (a junk user id becomes one huge "person", and a device whose latest user
  id is junk follows it), so ``one_hop_clean`` scores the same query with the demo's junk values
  (:data:`JUNK_IDS`) read as NULL: the fairer baseline.
* ``best``: the generator's ``evidence_group``: precision 1 by construction, its recall is the best any
  stitcher can reach from the evidence in the rows.

The SQL is plain (CTEs, ``row_number()``, ``group by``) and runs unchanged on DuckDB and Postgres.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from .demo import JUNK_IDS  # the junk values the demo emits, read as NULL by the junk-cleaned baseline

EVALUATED_TABLES = ("tracks", "pages", "identifies")
METHODS = (
    ("idstitch", "idstitch"),
    ("one_hop", "one-hop baseline"),
    ("one_hop_clean", "one-hop, junk ids removed"),
    ("best", "best achievable"),
)


def _ident(name: str) -> str:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", name):
        raise ValueError(f"invalid schema name {name!r}: use letters, digits and underscores")
    return '"' + name + '"'


def _rel(schema: str, table: str) -> str:
    return f'{_ident(schema)}."{table}"'


# ------------------------------------------------------------------ one-hop baseline


def _id(column: str, clean_junk: bool) -> str:
    if not clean_junk:
        return column
    junk = ", ".join("'" + v.replace("'", "''") + "'" for v in JUNK_IDS)
    return f"case when {column} in ({junk}) then null else {column} end"


def one_hop_mapping_sql(source_schema: str, clean_junk: bool = False) -> str:
    """``select anonymous_id, user_id``: each anonymous id's latest user id (by ``timestamp``; ties by the
    larger user id, so the result is deterministic). ``clean_junk`` treats :data:`JUNK_IDS` as NULL."""
    columns = "anonymous_id, user_id"
    if clean_junk:
        columns = f"{_id('anonymous_id', True)} as anonymous_id, {_id('user_id', True)} as user_id"
    pairs = "\n        union all\n".join(
        f'        select {columns}, "timestamp" from {_rel(source_schema, t)}'
        for t in EVALUATED_TABLES
    )
    return (
        "select anonymous_id, user_id\n"
        "from (\n"
        "    select anonymous_id, user_id,\n"
        '        row_number() over (partition by anonymous_id order by "timestamp" desc, user_id desc) as rn\n'
        "    from (\n"
        f"{pairs}\n"
        "    ) as all_rows\n"
        "    where anonymous_id is not null and user_id is not null\n"
        ") as ranked\n"
        "where rn = 1"
    )


def _one_hop_person(clean_junk: bool) -> str:
    return (f"coalesce({_id('e.user_id', clean_junk)}, m.user_id, {_id('e.anonymous_id', clean_junk)}, "
            "'msg:' || e.id)")


def one_hop_sql(source_schema: str, tables: Sequence[str] = ("tracks", "pages"),
                clean_junk: bool = False) -> dict[str, str]:
    """The one-hop baseline as full-width tables: for each of ``tables`` (default tracks and pages) a
    ``select`` of every source column plus ``person_id`` = ``coalesce(user_id, latest user id of the
    anonymous id, anonymous_id, 'msg:' || id)``, keyed by table name. Each statement is self-contained
    (``with one_hop_map as (...) select ...``), ready for ``create table ... as``."""
    mapping = one_hop_mapping_sql(source_schema, clean_junk).replace("\n", "\n    ")
    out = {}
    for table in tables:
        if table not in EVALUATED_TABLES:
            raise ValueError(f"unknown table {table!r}: expected one of {', '.join(EVALUATED_TABLES)}")
        out[table] = (
            "with one_hop_map as (\n"
            f"    {mapping}\n"
            ")\n"
            f"select e.*, {_one_hop_person(clean_junk)} as person_id\n"
            f"from {_rel(source_schema, table)} as e\n"
            f"left join one_hop_map as m on m.anonymous_id = {_id('e.anonymous_id', clean_junk)}"
        )
    return out


# ------------------------------------------------------------------ labelled messages

def _truth_cte(source_schema: str) -> str:
    tables = ", ".join(f"'{t}'" for t in EVALUATED_TABLES)
    return (
        "truth as (\n"
        "    select source_table, message_id, true_person, evidence_group\n"
        f"    from {_rel(source_schema, 'truth')}\n"
        f"    where source_table in ({tables})\n"
        ")"
    )


def _idstitch_predicted_cte(output_schema: str) -> str:
    parts = "\n    union all\n".join(
        f"    select cast('{t}' as varchar) as source_table, cast(message_id as varchar) as message_id,\n"
        f"        min(cast(person_id as varchar)) as person_id, count(*) as n_rows\n"
        f"    from {_rel(output_schema, 'fct_' + t)}\n"
        f"    group by message_id"
        for t in EVALUATED_TABLES
    )
    return f"predicted as (\n{parts}\n)"


def _labels_sql(method: str, source_schema: str, output_schema: str) -> str:
    """``with ..., labels as (select true_person, pred ...)`` for one method (without the final select)."""
    truth = _truth_cte(source_schema)
    if method == "best":
        return f"with {truth},\nlabels as (select true_person, evidence_group as pred from truth)"
    if method == "idstitch":
        return (
            f"with {truth},\n{_idstitch_predicted_cte(output_schema)},\n"
            "labels as (\n"
            "    select t.true_person,\n"
            "        coalesce(p.person_id, 'missing:' || t.source_table || ':' || t.message_id) as pred\n"
            "    from truth as t\n"
            "    left join predicted as p\n"
            "        on p.source_table = t.source_table and p.message_id = t.message_id\n"
            ")"
        )
    if method in ("one_hop", "one_hop_clean"):
        clean = method == "one_hop_clean"
        events = "\n    union all\n".join(
            f"    select cast('{t}' as varchar) as source_table, id, anonymous_id, user_id\n"
            f"    from {_rel(source_schema, t)}"
            for t in EVALUATED_TABLES
        )
        mapping = one_hop_mapping_sql(source_schema, clean).replace("\n", "\n    ")
        return (
            f"with {truth},\n"
            f"one_hop_map as (\n    {mapping}\n),\n"
            f"events as (\n{events}\n),\n"
            "labels as (\n"
            f"    select t.true_person, {_one_hop_person(clean)} as pred\n"
            "    from truth as t\n"
            "    inner join events as e on e.source_table = t.source_table and e.id = t.message_id\n"
            f"    left join one_hop_map as m on m.anonymous_id = {_id('e.anonymous_id', clean)}\n"
            ")"
        )
    raise ValueError(f"unknown method {method!r}")


def pair_counts_sql(labels_sql: str) -> str:
    """Messages, twice the pair counts (TP, predicted, true) and cluster counts for a ``labels`` CTE."""
    return (
        f"{labels_sql},\n"
        "cells as (select count(*) as n from labels group by true_person, pred),\n"
        "predicted_clusters as (select count(*) as n from labels group by pred),\n"
        "true_clusters as (select count(*) as n from labels group by true_person)\n"
        "select\n"
        "    (select count(*) from labels) as messages,\n"
        "    (select sum(n * (n - 1)) from cells) as together_both_x2,\n"
        "    (select sum(n * (n - 1)) from predicted_clusters) as predicted_pairs_x2,\n"
        "    (select sum(n * (n - 1)) from true_clusters) as true_pairs_x2,\n"
        "    (select count(*) from predicted_clusters) as predicted_clusters,\n"
        "    (select count(*) from true_clusters) as true_persons"
    )


# ------------------------------------------------------------------ running queries

Connection = Any  # DB-API connection (duckdb, psycopg2), an object with .query(sql) -> rows, or a callable


def _runner(conn: Connection) -> Callable[[str], list[tuple[Any, ...]]]:
    if hasattr(conn, "cursor"):
        def run(sql: str) -> list[tuple[Any, ...]]:
            cur = conn.cursor()
            try:
                cur.execute(sql)
                return list(cur.fetchall())
            finally:
                cur.close()
        return run
    query = getattr(conn, "query", None)
    if callable(query):
        return lambda sql: list(query(sql))
    if callable(conn):
        return lambda sql: list(conn(sql))
    raise TypeError("evaluate() needs a DB-API connection, an object with .query(sql), or a callable")


def _int(value: Any) -> int:
    return 0 if value is None else int(value)


def _scores(row: Sequence[Any]) -> dict[str, Any]:
    messages, tp2, pp2, tt2, n_pred, n_true = (_int(v) for v in row)
    tp, pp, tt = tp2 // 2, pp2 // 2, tt2 // 2
    precision = tp / pp if pp else 1.0
    recall = tp / tt if tt else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "messages": messages,
        "clusters": n_pred,
        "true_persons": n_true,
        "pairs_together": tp,
        "pairs_predicted": pp,
        "pairs_true": tt,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def evaluate(conn: Connection, source_schema: str, output_schema: str) -> dict[str, Any]:
    """Score idstitch, the one-hop baseline and the best achievable stitching on the demo data set loaded
    in ``source_schema`` (raw tables + ``truth``), with idstitch's facts in ``output_schema``.

    Returns ``{"messages", "true_persons", "evidence_groups", "idstitch": {...}, "one_hop": {...},
    "one_hop_clean": {...}, "best": {...}, "recall_gap", "missing_in_output", "duplicated_in_output"}``;
    each method's dict holds precision, recall, f1, clusters and the pair counts."""
    run = _runner(conn)
    results: dict[str, Any] = {}
    for method, _ in METHODS:
        rows = run(pair_counts_sql(_labels_sql(method, source_schema, output_schema)))
        results[method] = _scores(rows[0])
    diag = run(
        f"with {_truth_cte(source_schema)},\n{_idstitch_predicted_cte(output_schema)}\n"
        "select\n"
        "    sum(case when p.message_id is null then 1 else 0 end) as missing,\n"
        "    sum(case when p.n_rows > 1 then 1 else 0 end) as duplicated\n"
        "from truth as t\n"
        "left join predicted as p on p.source_table = t.source_table and p.message_id = t.message_id"
    )[0]
    best = results["best"]
    results.update(
        messages=best["messages"],
        true_persons=best["true_persons"],
        evidence_groups=best["clusters"],
        recall_gap=best["recall"] - results["idstitch"]["recall"],
        missing_in_output=_int(diag[0]),
        duplicated_in_output=_int(diag[1]),
    )
    return results


def format_table(results: dict[str, Any]) -> str:
    """An aligned text table of :func:`evaluate`'s results."""
    header = ("method", "persons", "precision", "recall", "F1")
    body = [
        (label, f"{results[key]['clusters']:,}", f"{results[key]['precision']:.4f}",
         f"{results[key]['recall']:.4f}", f"{results[key]['f1']:.4f}")
        for key, label in METHODS if key in results
    ]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(padded)

    out = [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in body), ""]
    out.append(
        f"messages {results['messages']:,} · true persons {results['true_persons']:,} · "
        f"recall gap (best - idstitch) {results['recall_gap']:.4f}"
    )
    if results.get("missing_in_output") or results.get("duplicated_in_output"):
        out.append(
            f"warning: {results.get('missing_in_output', 0):,} messages missing from the output facts, "
            f"{results.get('duplicated_in_output', 0):,} present more than once"
        )
    return "\n".join(out)
