"""The closure (hook, jump, contract) through the whole package: alias graphs among user ids.

One dbt build per engine over three independent alias graphs:
- a 1,000-step alias chain whose identifier keys are in random order along the chain (the case that
  needs hundreds of rounds with min-label propagation): one person, ≤ 15 rounds;
- a 1,000-step chain whose keys grow along the chain (time-ordered ids);
- a random multigraph of 400 user ids with cycles and self-aliases, checked against union-find.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from helpers.warehouse import Warehouse

CHAIN = 1_000
START = datetime(2026, 1, 1)


def _ts(seconds: int) -> str:
    return (START + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


def _alias_graphs(seed: int = 7) -> tuple[list[dict], list[dict], dict[str, str]]:
    """Aliases and one track per user id; returns (aliases, tracks, expected component per user id)."""
    rng = random.Random(seed)
    aliases: list[dict] = []
    users: dict[str, str] = {}
    received: dict[str, int] = {}

    # random chain: keys follow first receipt, so receipt times are shuffled along the chain
    random_chain = [f"rc_{i:04d}" for i in range(CHAIN + 1)]
    order = list(range(CHAIN + 1))
    rng.shuffle(order)
    for user, when in zip(random_chain, order, strict=True):
        received[user] = when
        users[user] = "random_chain"
    for i in range(CHAIN):
        aliases.append({"previous_id": random_chain[i], "user_id": random_chain[i + 1]})

    # time-ordered chain: each rename received after the previous one
    ordered_chain = [f"oc_{i:04d}" for i in range(CHAIN + 1)]
    for i, user in enumerate(ordered_chain):
        received[user] = 10_000 + i
        users[user] = "ordered_chain"
    for i in range(CHAIN):
        aliases.append({"previous_id": ordered_chain[i], "user_id": ordered_chain[i + 1]})

    # random multigraph, components by union-find
    graph_users = [f"rg_{i:03d}" for i in range(400)]
    parent = {u: u for u in graph_users}

    def find(u: str) -> str:
        while parent[u] != u:
            parent[u] = parent[parent[u]]
            u = parent[u]
        return u

    for u in graph_users:
        received[u] = 20_000 + rng.randrange(10_000)
    for _ in range(330):
        a, b = rng.choice(graph_users), rng.choice(graph_users)
        aliases.append({"previous_id": a, "user_id": b})
        parent[find(a)] = find(b)
    for u in graph_users:
        users[u] = "rg:" + find(u)

    alias_rows = []
    for n, row in enumerate(aliases):
        when = max(received[row["previous_id"]], received[row["user_id"]])
        alias_rows.append({"id": f"al_{n}", **row, "timestamp": _ts(when), "received_at": _ts(when)})
    # each user id's own track, received when the user id first appears
    track_rows = [
        {"id": f"tr_{user}", "anonymous_id": None, "user_id": user, "event": "x",
         "timestamp": _ts(received[user]), "received_at": _ts(received[user] - 1)}
        for user in users
    ]
    return alias_rows, track_rows, users


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def built(request: pytest.FixtureRequest, warehouse_factory) -> tuple[Warehouse, dict[str, str]]:
    wh: Warehouse = warehouse_factory(request.param)
    aliases, tracks, users = _alias_graphs()
    wh.load_tables("segment", {"tracks": tracks, "pages": [], "identifies": [], "aliases": aliases})
    # user ids with many aliases are legitimate here: lift the hub limit above the multigraph's degrees
    wh.run_dbt("build", vars={"idstitch__max_links_per_identifier": 1000})
    return wh, users


def _person_of_user(wh: Warehouse) -> dict[str, str]:
    rows = wh.query(
        f"select user_id, person_id from {wh.relation('fct_tracks')} where user_id is not null"
    )
    return dict(rows)


def test_random_order_chain_is_one_person_in_few_rounds(built):
    wh, users = built
    persons = _person_of_user(wh)
    chain_persons = {persons[u] for u, group in users.items() if group == "random_chain"}
    assert len(chain_persons) == 1
    (rounds,) = wh.query(
        f"select rounds from {wh.relation('closure_runs')} where closure_name = 'user_groups'"
    )[0]
    print(f"\nclosure rounds, 1,000-step chain in random key order + the other graphs: {rounds}")
    assert rounds <= 15


def test_time_ordered_chain_is_one_person(built):
    wh, users = built
    persons = _person_of_user(wh)
    assert len({persons[u] for u, group in users.items() if group == "ordered_chain"}) == 1


def test_random_multigraph_matches_union_find(built):
    wh, users = built
    persons = _person_of_user(wh)
    expected: dict[str, set[str]] = {}
    actual: dict[str, set[str]] = {}
    for user, group in users.items():
        if group.startswith("rg:"):
            expected.setdefault(group, set()).add(user)
            actual.setdefault(persons[user], set()).add(user)
    assert sorted(map(sorted, expected.values())) == sorted(map(sorted, actual.values()))
    assert len(expected) > 20  # the graph really has many components of several sizes


def test_oldest_user_id_names_the_person(built):
    """person_id hashes the identifier received first: the chain's earliest user id survives."""
    wh, _ = built
    persons = _person_of_user(wh)
    (earliest,) = wh.query(
        f"select user_id from {wh.relation('fct_tracks')} where user_id like 'oc_%' "
        "order by received_at, user_id limit 1"
    )[0]
    (expected,) = wh.query(f"select md5('user_id:' || '{earliest}')")[0]
    assert persons["oc_0500"] == expected


def test_closure_leaves_no_scratch_tables(built):
    wh, _ = built
    names = [r[0] for r in wh.query("select table_name from information_schema.tables")]
    closures = ("int_idstitch__user_groups__", "int_idstitch__anonymous_groups__")
    assert [n for n in names if n.startswith(closures) and not n.endswith("__log")] == []
    assert "int_idstitch__user_groups__log" in names


def test_round_budget_fails_loudly_and_keeps_the_previous_table(duckdb_warehouse: Warehouse):
    """Past idstitch__closure_max_rounds the build fails naming the var; the last good table stays."""
    wh = duckdb_warehouse
    aliases, tracks, _ = _alias_graphs()
    wh.load_tables("segment", {"tracks": tracks, "pages": [], "identifies": [], "aliases": aliases})
    lifted = {"idstitch__max_links_per_identifier": 1000}
    wh.run_dbt("build", vars=lifted)
    groups = "main_idstitch_internal.int_idstitch__user_groups"
    before = wh.query(f"select count(*), sum(label) from {groups}")

    proc = wh.run_dbt("build", vars={**lifted, "idstitch__closure_max_rounds": 2}, expect_ok=False)
    assert proc.returncode != 0
    assert "did not converge in 2 rounds" in proc.stdout
    assert "idstitch__closure_max_rounds" in proc.stdout
    assert "round 2:" in proc.stdout  # each round is logged
    assert wh.query(f"select count(*), sum(label) from {groups}") == before
    names = [r[0] for r in wh.query("select table_name from information_schema.tables")]
    assert [n for n in names if n.startswith("int_idstitch__user_groups__") and not n.endswith("__log")] == []
