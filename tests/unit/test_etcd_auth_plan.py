"""kubelite.etcd.auth_plan: the steps from any etcd auth state to kubelite's wanted one (no I/O)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from kubelite.etcd import auth_plan as p


def simulate(have: p.AuthState, steps: list[p.Step]) -> p.AuthState:
    """What etcd holds after the steps, refusing what etcd refuses (a role granted before it exists)."""
    users = {u: set(r) for u, r in have.users.items()}
    roles = {r: set(g) for r, g in have.roles.items()}
    enabled = have.enabled
    for step in steps:
        match step:
            case p.AddRole(role):
                assert role not in roles
                roles[role] = set()
            case p.GrantPermission(role, grant):
                roles[role].add(grant)
            case p.RevokePermission(role, grant):
                roles[role].remove(grant)
            case p.AddUser(user):
                assert user not in users
                users[user] = set()
            case p.GrantRole(user, role):
                assert role in roles, f"{role} granted before it exists"
                users[user].add(role)
            case p.RevokeRole(user, role):
                users[user].remove(role)
            case p.DeleteUser(user):
                del users[user]
            case p.DeleteRole(role):
                del roles[role]
                for held in users.values():
                    held.discard(role)
            case p.EnableAuth():
                assert p.ROOT in users and p.ROOT in users[p.ROOT], "etcd refuses auth without root"
                enabled = True
    return p.AuthState({u: frozenset(r) for u, r in users.items()}, {r: frozenset(g) for r, g in roles.items()},
                       enabled)


def test_from_nothing_enables_auth_last_and_a_node_writes_only_its_lease() -> None:
    steps = p.plan(p.desired(["node-1"]), p.AuthState())
    assert steps[-1] == p.EnableAuth()
    grants = p.desired(["node-1"]).roles["kubelite:node:node-1"]
    writes = [g for g in grants if g.perm != p.PermType.READ]
    assert writes == [p.Grant(p.PermType.READWRITE, b"/registry/leases/kube-node-lease/node-1")]
    reads = sorted((g.key, g.range_end) for g in grants if g.perm == p.PermType.READ)
    assert reads == [(b"/registry/", b"/registry/secrets/"), (b"/registry/secrets0", b"/registry0")]  # no Secret
    assert simulate(p.AuthState(), steps) == p.desired(["node-1"])


names = st.sampled_from(["node-1", "node-2", "node-3", "a"])
grants = st.builds(p.Grant, st.sampled_from(list(p.PermType)), st.sampled_from([b"/registry/", b"/x", b"/"]),
                   st.sampled_from([b"", b"/registry0"]))


@st.composite
def states(draw: st.DrawFn) -> p.AuthState:
    role_names = draw(st.sets(st.sampled_from(["root", "kubelite:node:node-1", "kubelite:node:node-2", "ops"])))
    roles = {r: frozenset(draw(st.sets(grants, max_size=3))) for r in role_names}
    user_names = draw(st.sets(st.sampled_from(["root", "kubelite-etcd-client", "system:node:node-1",
                                                "system:node:node-2", "alice"])))
    users = {u: frozenset(draw(st.sets(st.sampled_from(sorted(role_names)), max_size=2))) if role_names else
             frozenset() for u in user_names}
    return p.AuthState(users, roles, draw(st.booleans()))


@given(states(), st.sets(names, max_size=3))
def test_any_state_reaches_the_wanted_one_and_then_nothing_is_left_to_do(have: p.AuthState, nodes: set[str]) -> None:
    want = p.desired(nodes)
    after = simulate(have, p.plan(want, have))
    for user, roles in want.users.items():
        if user.startswith(p.NODE_USER_PREFIX):
            assert after.users[user] == roles  # a node's user holds its role, nothing more
        else:
            assert roles <= after.users[user]
    for role, role_grants in want.roles.items():
        if role != p.ROOT:
            assert after.roles[role] == role_grants
    # node users and roles not wanted are gone; an operator's own stay
    assert {u for u in after.users if u.startswith(p.NODE_USER_PREFIX)} == {p.node_user(n) for n in nodes}
    assert {r for r in after.roles if r.startswith(p.NODE_ROLE_PREFIX)} == {p.node_role(n) for n in nodes}
    assert {u for u in have.users if not u.startswith(p.NODE_USER_PREFIX)} <= set(after.users)
    assert after.enabled
    assert p.plan(want, after) == []  # idempotent
    assert p.plan(want, replace(after, enabled=True)) == []
