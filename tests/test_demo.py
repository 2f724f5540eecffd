"""The synthetic demo data set: determinism, honest ground truth, documented proportions (fast, no dbt)."""

from __future__ import annotations

import collections
import hashlib
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from idstitch import demo
from idstitch.cli import main

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"

PERSONS = 3000
MESSAGE_TABLES = ("tracks", "pages", "identifies")


def _digest(directory: Path) -> str:
    h = hashlib.sha256()
    for table in demo.TABLES:
        h.update((directory / f"{table}.csv").read_bytes())
    return h.hexdigest()


def _clean(value: str | None) -> str | None:
    return None if value is None or value in demo.JUNK_IDS else value


@pytest.fixture(scope="module")
def tables() -> dict[str, list[tuple]]:
    return demo.generate(PERSONS, seed=11).tables()


@pytest.fixture(scope="module")
def messages(tables: dict[str, list[tuple]]) -> list[dict]:
    """Every message of tracks/pages/identifies as a dict, with its truth row merged in."""
    truth = {(r[0], r[1]): r for r in tables["truth"]}
    out = []
    for table in MESSAGE_TABLES:
        for row in tables[table]:
            m = dict(zip(demo.COLUMNS[table], row, strict=True))
            t = truth[(table, m["id"])]
            m.update(source_table=table, true_person=t[2], evidence_group=t[3])
            out.append(m)
    return out


# ------------------------------------------------------------------ determinism


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    demo.write_csv(demo.generate(300, seed=5), tmp_path / "a")
    demo.write_csv(demo.generate(300, seed=5), tmp_path / "b")
    demo.write_csv(demo.generate(300, seed=6), tmp_path / "c")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_same_bytes_in_other_processes(tmp_path: Path) -> None:
    """No dependence on string hashing (set/dict order) across interpreter runs."""
    demo.write_csv(demo.generate(300, seed=5), tmp_path / "here")
    code = (
        "import sys; from idstitch import demo; "
        "demo.write_csv(demo.generate(300, seed=5), sys.argv[1])"
    )
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed,
               "PYTHONPATH": os.pathsep.join([str(SCRIPTS), os.environ.get("PYTHONPATH", "")])}
        subprocess.run([sys.executable, "-c", code, str(tmp_path / hash_seed)], check=True, env=env)
        assert _digest(tmp_path / hash_seed) == _digest(tmp_path / "here")


def test_fast_csv_path_matches_generic_rows(tmp_path: Path) -> None:
    dataset = demo.generate(300, seed=3)
    fast = demo.write_csv(dataset, tmp_path / "fast")
    generic = demo.write_csv(iter(dataset), tmp_path / "generic")
    assert fast == generic
    assert _digest(tmp_path / "fast") == _digest(tmp_path / "generic")


def test_iterating_twice_gives_the_same_rows() -> None:
    dataset = demo.generate(50, seed=9)
    assert list(dataset) == list(dataset)


@pytest.mark.parametrize("kwargs", [{"persons": 0}, {"persons": -3}, {"persons": 10, "days": 0},
                                    {"persons": "10"}])
def test_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        demo.generate(**kwargs)


# ------------------------------------------------------------------ truth


def test_every_message_has_one_truth_row(tables: dict[str, list[tuple]]) -> None:
    keys = [(t, row[0]) for t in ("tracks", "pages", "identifies", "aliases") for row in tables[t]]
    truth_keys = [(r[0], r[1]) for r in tables["truth"]]
    assert len(set(keys)) == len(keys), "message ids are unique within a table"
    assert collections.Counter(truth_keys) == collections.Counter(keys)
    assert all(r[2] and r[3] for r in tables["truth"])
    assert len({r[2] for r in tables["truth"]}) == PERSONS


def test_evidence_group_never_merges_true_persons(tables: dict[str, list[tuple]]) -> None:
    persons_of = collections.defaultdict(set)
    for _, _, person, group in tables["truth"]:
        persons_of[group].add(person)
    assert max(len(p) for p in persons_of.values()) == 1


def test_evidence_follows_the_observable_identifiers(messages: list[dict]) -> None:
    by_user = collections.defaultdict(set)
    by_anon = collections.defaultdict(set)
    persons_on_anon = collections.defaultdict(set)
    for m in messages:
        user, anon = _clean(m["user_id"]), _clean(m["anonymous_id"])
        if user is not None:
            # a message with a real user id is that person's: aliases always join a person's user ids
            assert m["evidence_group"] == m["true_person"]
            by_user[user].add(m["evidence_group"])
        if anon is not None:
            by_anon[anon].add(m["evidence_group"])
            persons_on_anon[anon].add(m["true_person"])
        if user is None and anon is None and not (m["source_table"] == "identifies" and m["email"]):
            assert m["evidence_group"] == f"msg:{m['source_table']}:{m['id']}"
        group = m["evidence_group"]
        if group.startswith("dev:"):
            assert user is None
        elif group.startswith("sess:"):
            assert user is None and anon is not None and group.startswith(f"sess:{anon}:")
    assert all(len(groups) == 1 for groups in by_user.values())
    # an anonymous id used by one person is one group (that person or the device's own group)
    for anon, groups in by_anon.items():
        if len(persons_on_anon[anon]) == 1:
            assert len(groups) == 1, anon


def test_evidence_groups_are_no_finer_than_needed(messages: list[dict]) -> None:
    """A person has at most one group that is labelled with the person (their user id's component)."""
    labelled = collections.defaultdict(set)
    for m in messages:
        if not m["evidence_group"].startswith(("dev:", "sess:", "msg:", "email:", "usr:")):
            labelled[m["true_person"]].add(m["evidence_group"])
    assert all(groups == {person} for person, groups in labelled.items())


# ------------------------------------------------------------------ proportions


def test_proportions_as_documented(tables: dict[str, list[tuple]], messages: list[dict]) -> None:
    per_person = len(messages) / PERSONS
    assert 38 <= per_person <= 55, per_person

    identified = {m["true_person"] for m in messages if _clean(m["user_id"])}
    assert 0.55 <= len(identified) / PERSONS <= 0.66

    client = [m for m in messages if m["source_table"] != "identifies" and m["context_user_agent"]]
    junk = sum(1 for m in client if m["anonymous_id"] in demo.JUNK_IDS or m["user_id"] in demo.JUNK_IDS)
    assert 0.008 <= junk / len(client) <= 0.03

    # devices: distinct browser anonymous ids per person (cookie clears and resets add some)
    anons = collections.defaultdict(set)
    for m in client:
        anon = _clean(m["anonymous_id"])
        if anon and not anon.startswith("sub_"):
            anons[m["true_person"]].add(anon)
    assert 1.5 <= sum(len(a) for a in anons.values()) / PERSONS <= 2.3

    # not every identified person's device is linked: some messages are only device-level groups
    kinds = collections.Counter(m["evidence_group"].split(":")[0] if ":" in m["evidence_group"] else "person"
                                for m in messages)
    assert 0.40 <= kinds["person"] / len(messages) <= 0.65
    assert 0.30 <= kinds["dev"] / len(messages) <= 0.55
    assert kinds["sess"] > 0 and kinds["msg"] > 0

    late = sum(1 for m in client
               if datetime.fromisoformat(m["received_at"]) - datetime.fromisoformat(m["timestamp"])
               >= timedelta(hours=1))
    assert 0.01 <= late / len(client) <= 0.04


def test_every_behaviour_is_present(tables: dict[str, list[tuple]], messages: list[dict]) -> None:
    values = {m["anonymous_id"] for m in messages} | {m["user_id"] for m in messages}
    assert set(demo.JUNK_IDS) <= values, "all junk values appear"

    persons_on_anon = collections.defaultdict(set)
    for m in messages:
        if _clean(m["anonymous_id"]):
            persons_on_anon[m["anonymous_id"]].add(m["true_person"])
    sharing = sorted(len(p) for p in persons_on_anon.values() if len(p) > 1)
    assert any(2 <= n <= 3 for n in sharing), "households"
    assert sharing[-1] >= 40, "a kiosk"

    aliases = tables["aliases"]
    assert aliases
    assert {a[1] for a in aliases} & {a[2] for a in aliases}, "a multi-step alias chain"

    ids = tables["identifies"]
    subs = [r for r in ids if r[1] and r[1].startswith("sub_")]
    assert subs and all(r[2] is None and r[3] for r in subs), "e-mail-only subscriber identities"
    assert any(r[3] != r[3].strip() for r in ids if r[3]), "padded e-mails"
    assert any(r[3] != r[3].lower() for r in ids if r[3]), "upper-case e-mails"

    users_of_email = collections.defaultdict(set)
    for m in messages:
        if m["source_table"] == "identifies" and _clean(m["user_id"]) and m["email"]:
            users_of_email[m["email"].strip().lower()].add(m["true_person"])
    assert any(len(p) == 2 for p in users_of_email.values()), "an e-mail shared by two accounts"

    events = {m["event"] for m in messages if m["source_table"] == "tracks"}
    assert {"Signed Up", "Signed In", "Signed Out", "Order Completed", "Email Opened"} <= events
    server = [m for m in messages if m["anonymous_id"] is None and _clean(m["user_id"])]
    assert server, "server-side messages with only a user id"


# ------------------------------------------------------------------ files and loading


def test_csv_keeps_null_and_empty_apart(tmp_path: Path) -> None:
    import duckdb

    dataset = demo.generate(400, seed=2)
    counts = demo.write_csv(dataset, tmp_path / "csv")
    rows = dataset.tables()
    assert counts == {t: len(r) for t, r in rows.items()}
    assert demo.load_duckdb(tmp_path / "db.duckdb", "segment", tmp_path / "csv") == counts
    con = duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True)
    try:
        types = dict(con.execute("select column_name, data_type from information_schema.columns "
                                 "where table_schema = 'segment' and table_name = 'pages'").fetchall())
        assert types["timestamp"] == "TIMESTAMP" and types["received_at"] == "TIMESTAMP"
        assert types["context_user_agent"] == "VARCHAR"
        for column in ("anonymous_id", "user_id"):
            empty = sum(1 for r in rows["tracks"] if r[1 if column == "anonymous_id" else 2] == "")
            null = sum(1 for r in rows["tracks"] if r[1 if column == "anonymous_id" else 2] is None)
            got = con.execute(f"select count(*) filter (where {column} = ''), "
                              f"count(*) filter (where {column} is null) from segment.tracks").fetchone()
            assert got == (empty, null)
        padded = sum(1 for r in rows["identifies"] if r[3] and r[3] != r[3].strip())
        assert con.execute("select count(*) from segment.identifies where email <> trim(email)").fetchone() \
            == (padded,)
        ua = con.execute("select context_user_agent from segment.tracks where context_user_agent like '%,%' "
                         "limit 1").fetchone()
        assert ua and "(KHTML, like Gecko)" in ua[0]
    finally:
        con.close()


def test_cli_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--persons", "40", "--seed", "1", "--out", str(tmp_path / "csv"),
                 "--duckdb", str(tmp_path / "demo.duckdb")])
    out = capsys.readouterr().out
    assert code == 0
    assert len(out.strip().splitlines()) == 1 and "tracks=" in out and "truth=" in out
    assert (tmp_path / "csv" / "truth.csv").is_file() and (tmp_path / "demo.duckdb").is_file()


@pytest.mark.parametrize("argv", [
    ["demo", "--persons", "zero", "--out", "x"],
    ["demo", "--persons", "5"],
    ["demo", "--persons", "5", "--out", "{tmp}/o", "--duckdb", "{tmp}/d.duckdb", "--schema", "no-dash"],
    ["nonsense"],
])
def test_cli_demo_bad_input(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err and "error" in err
    assert not (tmp_path / "o").exists()
