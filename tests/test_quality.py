"""Pairwise precision / recall / F1 in the warehouse, on a hand-made example with values worked out by hand."""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from idstitch import demo, quality
from idstitch.cli import main

# Seven messages of three true persons: A = {t1, t2, t3, t4}, B = {p1, p2}, C = {i1}  ->  6 + 1 + 0 = 7 true
# pairs. The alias message is in the truth table but has no fact table: it must not count.
TRUTH = [
    # source_table, message_id, true_person, evidence_group
    ("tracks", "t1", "A", "A"),
    ("tracks", "t2", "A", "A"),
    ("tracks", "t4", "A", "A"),
    ("tracks", "t3", "A", "dev:a2"),  # A's anonymous device: no stitcher can know it is A
    ("pages", "p1", "B", "B"),
    ("pages", "p2", "B", "B"),
    ("identifies", "i1", "C", "C"),
    ("aliases", "al1", "A", "A"),
]
RAW = {
    # id, anonymous_id, user_id, timestamp
    "tracks": [
        ("t1", "a1", None, "2026-01-01 10:00:00"),
        ("t2", "a1", "u1", "2026-01-01 10:05:00"),
        ("t4", "a1", "undefined", "2026-01-01 10:10:00"),  # junk user id, latest on a1
        ("t3", "a2", None, "2026-01-02 09:00:00"),
    ],
    "pages": [
        ("p1", "a2", None, "2026-01-02 09:01:00"),
        ("p2", "a3", "u2", "2026-01-03 12:00:00"),
    ],
    "identifies": [
        ("i1", "a2", "u3", "2026-01-02 20:00:00"),
    ],
}
# idstitch's answer: X = {t1, t2, t4}, Y = {t3, p1}, Z = {p2} (present twice), i1 missing.
FACTS = {
    "tracks": [("t1", "X"), ("t2", "X"), ("t4", "X"), ("t3", "Y")],
    "pages": [("p1", "Y"), ("p2", "Z"), ("p2", "Z")],
    "identifies": [],
}

# Worked out by hand (TP = pairs together in both, PP = predicted pairs, TT = true pairs = 7):
# idstitch: clusters X, Y, Z, missing:i1 -> PP = 3 + 1 = 4, TP = 3 (X within A)
# one-hop: a1 -> 'undefined' (latest), a2 -> u3, a3 -> u2; t1, t4 -> 'undefined', t2 -> u1,
#          t3, p1, i1 -> u3, p2 -> u2: PP = 1 + 3 = 4, TP = 1 ({t1, t4} within A)
# one-hop, junk removed: a1 -> u1; {t1, t2, t4} -> u1, {t3, p1, i1} -> u3, p2 -> u2: PP = 3 + 3, TP = 3
# best: groups A, dev:a2, B, C -> PP = 3 + 1 = 4, TP = 4
EXPECTED = {
    "idstitch": (Fraction(3, 4), Fraction(3, 7), 4),
    "one_hop": (Fraction(1, 4), Fraction(1, 7), 4),
    "one_hop_clean": (Fraction(1, 2), Fraction(3, 7), 3),
    "best": (Fraction(1), Fraction(4, 7), 4),
}


def _f1(p: Fraction, r: Fraction) -> Fraction:
    return 2 * p * r / (p + r)


def _load(execute: Any) -> None:
    execute("create schema src")
    execute("create schema out")
    execute("create table src.truth (source_table text, message_id text, true_person text, evidence_group text)")
    for row in TRUTH:
        execute("insert into src.truth values ({})".format(", ".join(f"'{v}'" for v in row)))
    extra = {"tracks": "event text", "pages": "name text", "identifies": "email text"}
    for table, rows in RAW.items():
        execute(f'create table src.{table} (id text, anonymous_id text, user_id text, "timestamp" timestamp, '
                f"{extra[table]})")
        for mid, anon, user, ts in rows:
            user_sql = "null" if user is None else f"'{user}'"
            execute(f"insert into src.{table} values ('{mid}', '{anon}', {user_sql}, '{ts}', null)")
    for table, rows in FACTS.items():
        execute(f"create table out.fct_{table} (message_id text, person_id text, attribution_method text)")
        for mid, person in rows:
            execute(f"insert into out.fct_{table} values ('{mid}', '{person}', 'user_id')")


def _check(results: dict[str, Any]) -> None:
    for method, (precision, recall, clusters) in EXPECTED.items():
        got = results[method]
        assert got["precision"] == pytest.approx(float(precision)), method
        assert got["recall"] == pytest.approx(float(recall)), method
        assert got["f1"] == pytest.approx(float(_f1(precision, recall))), method
        assert got["clusters"] == clusters, method
        assert got["messages"] == 7 and got["pairs_true"] == 7
    assert results["messages"] == 7
    assert results["true_persons"] == 3
    assert results["evidence_groups"] == 4
    assert results["recall_gap"] == pytest.approx(1 / 7)
    assert results["missing_in_output"] == 1
    assert results["duplicated_in_output"] == 1


@pytest.fixture
def duck() -> Any:
    import duckdb

    con = duckdb.connect()
    _load(con.execute)
    yield con
    con.close()


def test_hand_made_example_duckdb(duck: Any) -> None:
    _check(quality.evaluate(duck, "src", "out"))


def test_accepts_query_adapters(duck: Any) -> None:
    """Anything with ``.query(sql) -> rows`` (e.g. the test Warehouse) or a plain callable works too."""

    class Adapter:
        def query(self, sql: str) -> list[tuple]:
            return duck.execute(sql).fetchall()

    _check(quality.evaluate(Adapter(), "src", "out"))
    _check(quality.evaluate(lambda sql: duck.execute(sql).fetchall(), "src", "out"))


@pytest.mark.postgres
def test_hand_made_example_postgres(pg_server: Any) -> None:
    pg_server.create_database("quality_test")
    try:
        con = pg_server.connect("quality_test")
        try:
            with con.cursor() as cur:
                _load(cur.execute)
            _check(quality.evaluate(con, "src", "out"))
        finally:
            con.close()
    finally:
        pg_server.drop_database("quality_test")


def test_perfect_prediction_and_no_pairs(duck: Any) -> None:
    for table in FACTS:
        duck.execute(f"delete from out.fct_{table}")
        duck.execute(f"insert into out.fct_{table} select message_id, true_person, 'x' from src.truth "
                     f"where source_table = '{table}'")
    results = quality.evaluate(duck, "src", "out")
    assert (results["idstitch"]["precision"], results["idstitch"]["recall"]) == (1.0, 1.0)
    duck.execute("update src.truth set true_person = message_id, evidence_group = message_id")
    results = quality.evaluate(duck, "src", "out")  # every message alone: no true pair at all
    assert results["best"]["recall"] == 1.0 and results["best"]["precision"] == 1.0


def test_matches_brute_force_pairs_on_demo_data(tmp_path: Path) -> None:
    """The contingency formula against an explicit walk over all pairs, on a small generated data set."""
    import duckdb

    demo.write_csv(demo.generate(25, seed=4), tmp_path / "csv")
    db = tmp_path / "demo.duckdb"
    demo.load_duckdb(db, "segment", tmp_path / "csv")
    con = duckdb.connect(str(db))
    try:
        con.execute("create schema out")
        for table in ("tracks", "pages", "identifies"):  # a deliberately imperfect stitcher: by anonymous id
            con.execute(f"create table out.fct_{table} as select id as message_id, "
                        f"coalesce(anonymous_id, user_id, id) as person_id from segment.{table}")
        results = quality.evaluate(con, "segment", "out")
        labels = con.execute(
            "select t.true_person, t.evidence_group, f.person_id from segment.truth t join ("
            "select 'tracks' s, message_id, person_id from out.fct_tracks union all "
            "select 'pages', message_id, person_id from out.fct_pages union all "
            "select 'identifies', message_id, person_id from out.fct_identifies"
            ") f on f.s = t.source_table and f.message_id = t.message_id").fetchall()
    finally:
        con.close()
    tp = pp = tt = tp_best = pp_best = 0
    for (true_a, ev_a, pred_a), (true_b, ev_b, pred_b) in itertools.combinations(labels, 2):
        tt += true_a == true_b
        pp += pred_a == pred_b
        tp += pred_a == pred_b and true_a == true_b
        pp_best += ev_a == ev_b
        tp_best += ev_a == ev_b and true_a == true_b
    assert results["messages"] == len(labels)
    assert (results["idstitch"]["pairs_together"], results["idstitch"]["pairs_predicted"],
            results["idstitch"]["pairs_true"]) == (tp, pp, tt)
    assert (results["best"]["pairs_together"], results["best"]["pairs_predicted"]) == (tp_best, pp_best)
    assert tp_best == pp_best, "evidence groups never merge two true persons"


def test_one_hop_sql_materialises(duck: Any) -> None:
    statements = quality.one_hop_sql("src")
    assert set(statements) == {"tracks", "pages"}
    for table, sql in statements.items():
        duck.execute(f"create table out.one_hop_{table} as {sql}")
    rows = dict(duck.execute("select id, person_id from out.one_hop_tracks").fetchall())
    assert rows == {"t1": "undefined", "t2": "u1", "t4": "undefined", "t3": "u3"}
    columns = [r[0] for r in duck.execute("describe out.one_hop_pages").fetchall()]
    assert columns == ["id", "anonymous_id", "user_id", "timestamp", "name", "person_id"]
    clean = quality.one_hop_sql("src", tables=["tracks"], clean_junk=True)["tracks"]
    assert dict(duck.execute(f"select id, person_id from ({clean}) as x").fetchall()) == {
        "t1": "u1", "t2": "u1", "t4": "u1", "t3": "u3"}
    with pytest.raises(ValueError):
        quality.one_hop_sql("src; drop table x")


def test_format_table(duck: Any) -> None:
    text = quality.format_table(quality.evaluate(duck, "src", "out"))
    lines = text.splitlines()
    assert lines[0].split() == ["method", "persons", "precision", "recall", "F1"]
    assert len({len(line) for line in lines[:6]}) == 1, "aligned columns"
    assert lines[2].split()[:4] == ["idstitch", "4", "0.7500", "0.4286"]
    assert "recall gap (best - idstitch) 0.1429" in text
    assert "1 messages missing" in text


def test_cli_quality(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import duckdb

    db = tmp_path / "q.duckdb"
    con = duckdb.connect(str(db))
    _load(con.execute)
    con.close()
    assert main(["quality", "--duckdb", str(db), "--source-schema", "src", "--output-schema", "out"]) == 0
    assert "best achievable" in capsys.readouterr().out
    assert main(["quality", "--duckdb", str(tmp_path / "missing.duckdb")]) == 2
    assert main(["quality", "--duckdb", str(db), "--source-schema", "src", "--output-schema", "nope"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 2
