"""Which etcd users and roles kubelite wants, and the steps from what etcd has to that (pure).

etcd's own RBAC (https://etcd.io/docs/v3.5/op-guide/authentication/rbac/) is the storage-layer half
of node restriction: with ``--client-cert-auth`` etcd takes a client certificate's CN as the user
(no password), so each node's agent gets a user ``system:node:<node>`` — the same name as its
gateway identity — whose role reads ``/registry/`` but Secrets and writes only its node Lease key
(the agent keeps that key on an etcd lease, which the gateway cannot do). Every other write of
an agent, and its reads of Secrets, go through the gateway, where NodeRestriction admission and
the Node authorizer apply. The components
(gateway, controller-manager, DNS, simulated agents) share the user ``kubelite-etcd-client`` with
etcd's ``root`` role. The apply side is :mod:`kubelite.etcd.auth`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum

from kubelite.api.resources import LEASES, REGISTRY_ROOT, SECRETS

ROOT = "root"  # etcd's built-in admin user and role: etcd refuses to enable auth without them
COMPONENTS_USER = "kubelite-etcd-client"  # the CN of the components' client certificate (up_secure)
NODE_USER_PREFIX = "system:node:"
NODE_ROLE_PREFIX = "kubelite:node:"
NODE_LEASE_NAMESPACE = "kube-node-lease"
REGISTRY_PREFIX = f"{REGISTRY_ROOT}/".encode()
SECRETS_PREFIX = SECRETS.prefix().encode()  # /registry/secrets/


class PermType(IntEnum):
    """etcd's ``authpb.Permission.Type``."""

    READ = 0
    WRITE = 1
    READWRITE = 2


@dataclass(frozen=True, order=True)
class Grant:
    """One permission of a role: ``[key, range_end)``, or the single ``key`` when ``range_end`` is empty."""

    perm: PermType
    key: bytes
    range_end: bytes = b""


@dataclass(frozen=True)
class AuthState:
    """Users (name → role names) and roles (name → permissions), and whether auth is on.
    The same shape serves for what etcd has and what kubelite wants."""

    users: dict[str, frozenset[str]] = field(default_factory=dict)
    roles: dict[str, frozenset[Grant]] = field(default_factory=dict)
    enabled: bool = False


# steps, applied in the order plan() returns them
@dataclass(frozen=True)
class AddRole:
    role: str


@dataclass(frozen=True)
class GrantPermission:
    role: str
    grant: Grant


@dataclass(frozen=True)
class RevokePermission:
    role: str
    grant: Grant


@dataclass(frozen=True)
class AddUser:
    user: str


@dataclass(frozen=True)
class GrantRole:
    user: str
    role: str


@dataclass(frozen=True)
class RevokeRole:
    user: str
    role: str


@dataclass(frozen=True)
class DeleteUser:
    user: str


@dataclass(frozen=True)
class DeleteRole:
    role: str


@dataclass(frozen=True)
class EnableAuth:
    pass


Step = (AddRole | GrantPermission | RevokePermission | AddUser | GrantRole | RevokeRole | DeleteUser
        | DeleteRole | EnableAuth)


def node_user(node: str) -> str:
    """The etcd user of ``node``'s agent: its certificate's CN, as towards the gateway."""
    return f"{NODE_USER_PREFIX}{node}"


def node_role(node: str) -> str:
    return f"{NODE_ROLE_PREFIX}{node}"


def node_lease_key(node: str) -> bytes:
    """The node's Lease key (``/registry/leases/kube-node-lease/<node>``), the agent's only direct write."""
    return LEASES.key(node, NODE_LEASE_NAMESPACE).encode()


def prefix_end(prefix: bytes) -> bytes:
    """The end of the range of keys starting with ``prefix`` (``/registry/`` → ``/registry0``)."""
    return prefix[:-1] + bytes([prefix[-1] + 1])


def node_grants(node: str) -> frozenset[Grant]:
    """Read everything under ``/registry/`` but Secrets (informers, point reads, watches); read-write
    the node Lease key only (create, move onto a new etcd lease, and the lease's revoke, which etcd
    allows only to a user who may write every key attached to it). Secrets: a node gets only those
    its pods use, from the gateway (the Node authorizer); etcd permissions only allow, so the read
    is two ranges around ``/registry/secrets/``."""
    registry_end = prefix_end(REGISTRY_PREFIX)
    return frozenset({Grant(PermType.READ, REGISTRY_PREFIX, SECRETS_PREFIX),
                      Grant(PermType.READ, prefix_end(SECRETS_PREFIX), registry_end),
                      Grant(PermType.READWRITE, node_lease_key(node))})


def desired(nodes: Iterable[str]) -> AuthState:
    """``root`` and the components' user with the root role, and one user and role per node; auth on."""
    users = {ROOT: frozenset({ROOT}), COMPONENTS_USER: frozenset({ROOT})}
    roles: dict[str, frozenset[Grant]] = {ROOT: frozenset()}  # root's rights are etcd's own: no permissions
    for node in nodes:
        users[node_user(node)] = frozenset({node_role(node)})
        roles[node_role(node)] = node_grants(node)
    return AuthState(users=users, roles=roles, enabled=True)


def _ours(name: str, prefix: str) -> bool:
    return name.startswith(prefix)


def plan(want: AuthState, have: AuthState) -> list[Step]:
    """The steps that turn ``have`` into ``want``: roles and their permissions first (a user is
    granted only a role that exists), then users, then the removal of node users/roles no longer
    wanted (only names of kubelite's node prefixes; anything else an operator added stays), and
    enabling auth last. Empty when nothing differs, so applying twice is a no-op."""
    steps: list[Step] = []
    for role, grants in sorted(want.roles.items()):
        current = have.roles.get(role)
        if current is None:
            steps.append(AddRole(role))
            current = frozenset()
        if role == ROOT:
            continue
        steps += [GrantPermission(role, g) for g in sorted(grants - current)]
        steps += [RevokePermission(role, g) for g in sorted(current - grants)]
    for user, roles in sorted(want.users.items()):
        current_roles = have.users.get(user)
        if current_roles is None:
            steps.append(AddUser(user))
            current_roles = frozenset()
        steps += [GrantRole(user, r) for r in sorted(roles - current_roles)]
        if _ours(user, NODE_USER_PREFIX):  # a node's user holds its role only
            steps += [RevokeRole(user, r) for r in sorted(current_roles - roles)]
    steps += [DeleteUser(u) for u in sorted(have.users) if _ours(u, NODE_USER_PREFIX) and u not in want.users]
    steps += [DeleteRole(r) for r in sorted(have.roles) if _ours(r, NODE_ROLE_PREFIX) and r not in want.roles]
    if want.enabled and not have.enabled:
        steps.append(EnableAuth())
    return steps
