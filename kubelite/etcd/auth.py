"""Make etcd's users and roles what :mod:`kubelite.etcd.auth_plan` wants, and enable auth.

Library: etcd's own gRPC Auth API through aetcd's generated stubs (``aetcd.rpc.AuthStub`` and the
``Auth*Request`` messages) on the client's channel. aetcd's ``Client`` has no auth methods
(ENVIRONMENT.md), the stubs are etcd's protocol itself, and the maintained alternatives
(``etcdctl`` subprocesses) would mean parsing text. Every call carries a deadline.

The caller's client must be an etcd admin: before auth is enabled anyone is; afterwards only a
user with the ``root`` role (kubelite's components' certificate, CN ``kubelite-etcd-client``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from aetcd import rpc

from kubelite.api import errors
from kubelite.etcd import auth_plan as p
from kubelite.etcd.client import EtcdClient
from kubelite.etcd.ops import EtcdUnavailable

log = logging.getLogger(__name__)


class EtcdAuthError(errors.ApiError):
    """etcd refused a user/role change (not an availability problem): etcd's words and what was tried."""

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(errors.internal(f"etcd auth setup: {what}: {detail}").status)


async def ensure(client: EtcdClient, nodes: Iterable[str], *, timeout: float | None = None) -> list[p.Step]:
    """Users, roles and permissions for the components and ``nodes`` (node users no longer listed
    are removed), then auth on; idempotent. Returns the steps applied (empty: nothing changed).

    Raises :class:`EtcdUnavailable` when etcd does not answer in ``timeout`` seconds (default the
    client's) and :class:`EtcdAuthError` when it refuses (e.g. the client is no admin).
    """
    auth = _Auth(client, client.config.timeout if timeout is None else timeout)
    steps = p.plan(p.desired(nodes), await auth.observe())
    for step in steps:
        await auth.apply(step)
    if steps:
        log.info("etcd auth: %d change(s): %s", len(steps), ", ".join(_describe(s) for s in steps[:8]))
    return steps


async def is_enabled(client: EtcdClient, *, timeout: float | None = None) -> bool:
    """Whether etcd's auth is on, asked by any client: one without a user is told so by the refusal
    itself (etcd 3.5 answers AuthStatus only to a user once auth is on). Raises as :func:`ensure`."""
    auth = _Auth(client, client.config.timeout if timeout is None else timeout)
    try:
        return bool((await auth.call("AuthStatus", rpc.AuthStatusRequest(), "read auth status")).enabled)
    except EtcdAuthError as exc:
        if _NO_USER in str(exc):
            return True
        raise


_NO_USER = "user name is empty"  # etcd's ErrUserEmpty: auth is on and the request names no user


def _describe(step: p.Step) -> str:
    return type(step).__name__ + "(" + ", ".join(str(v) for v in vars(step).values()) + ")"


class _Auth:
    def __init__(self, client: EtcdClient, timeout: float) -> None:
        self.client = client
        self.timeout = timeout
        self.stub: Any = None

    async def call(self, method: str, request: Any, what: str) -> Any:
        if self.stub is None:
            try:
                await self.client.connect()
            except Exception as exc:  # aetcd wraps connection problems in several types
                raise EtcdUnavailable(f"{what}: cannot connect to etcd {self.client.config.endpoints}: {exc}") from exc
            self.stub = rpc.AuthStub(self.client.channel)
        try:
            return await getattr(self.stub, method)(request, timeout=self.timeout, metadata=self.client.metadata)
        except rpc.AioRpcError as exc:
            if exc.code() in (rpc.StatusCode.DEADLINE_EXCEEDED, rpc.StatusCode.UNAVAILABLE, rpc.StatusCode.CANCELLED):
                raise EtcdUnavailable(f"{what}: etcd {exc.code().name}: {exc.details()}") from exc
            raise EtcdAuthError(what, f"{exc.code().name}: {exc.details()}") from exc

    async def observe(self) -> p.AuthState:
        status = await self.call("AuthStatus", rpc.AuthStatusRequest(), "read auth status")
        users = {}
        for name in (await self.call("UserList", rpc.AuthUserListRequest(), "list users")).users:
            reply = await self.call("UserGet", rpc.AuthUserGetRequest(name=name), f"read user {name}")
            users[name] = frozenset(reply.roles)
        roles = {}
        for name in (await self.call("RoleList", rpc.AuthRoleListRequest(), "list roles")).roles:
            reply = await self.call("RoleGet", rpc.AuthRoleGetRequest(role=name), f"read role {name}")
            roles[name] = frozenset(p.Grant(p.PermType(g.permType), bytes(g.key), bytes(g.range_end))
                                    for g in reply.perm)
        return p.AuthState(users=users, roles=roles, enabled=bool(status.enabled))

    async def apply(self, step: p.Step) -> None:
        what = _describe(step)
        match step:
            case p.AddRole(role):
                await self.call("RoleAdd", rpc.AuthRoleAddRequest(name=role), what)
            case p.GrantPermission(role, grant):
                perm = rpc.Permission(permType=int(grant.perm), key=grant.key, range_end=grant.range_end)
                await self.call("RoleGrantPermission", rpc.AuthRoleGrantPermissionRequest(name=role, perm=perm), what)
            case p.RevokePermission(role, grant):
                request = rpc.AuthRoleRevokePermissionRequest(role=role, key=grant.key, range_end=grant.range_end)
                await self.call("RoleRevokePermission", request, what)
            case p.AddUser(user):  # certificate users: etcd takes the CN, there is no password to check
                request = rpc.AuthUserAddRequest(name=user, options=rpc.UserAddOptions(no_password=True))
                await self.call("UserAdd", request, what)
            case p.GrantRole(user, role):
                await self.call("UserGrantRole", rpc.AuthUserGrantRoleRequest(user=user, role=role), what)
            case p.RevokeRole(user, role):
                await self.call("UserRevokeRole", rpc.AuthUserRevokeRoleRequest(name=user, role=role), what)
            case p.DeleteUser(user):
                await self.call("UserDelete", rpc.AuthUserDeleteRequest(name=user), what)
            case p.DeleteRole(role):
                await self.call("RoleDelete", rpc.AuthRoleDeleteRequest(role=role), what)
            case p.EnableAuth():
                await self.call("AuthEnable", rpc.AuthEnableRequest(), what)
