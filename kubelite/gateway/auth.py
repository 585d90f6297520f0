"""Bearer-token authentication from a kube-apiserver style token file, and a read-only group.

Token file lines: ``token,user,uid,"group1,group2"`` (the groups column is
optional; ``#`` starts a comment). Members of the read-only group may use
get, list and watch only (403 otherwise).
"""

from __future__ import annotations

import csv
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kubelite.api import errors

READONLY_GROUP = "kubelite:readonly"
_READ_VERBS = frozenset({"get", "list", "watch"})


@dataclass(frozen=True)
class User:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = field(default=())


ANONYMOUS = User("system:anonymous", groups=("system:unauthenticated",))


class TokenFileError(ValueError):
    """The token file is malformed; the message names the line."""


def parse_token_file(lines: Iterable[str], *, source: str = "token file") -> dict[str, User]:
    users: dict[str, User] = {}
    for number, row in enumerate(csv.reader(lines), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise TokenFileError(f"{source}, line {number}: expected token,user,uid[,\"group1,group2\"]")
        token, name = row[0].strip(), row[1].strip()
        uid = row[2].strip() if len(row) > 2 else ""
        groups = tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 else ()
        if token in users:
            raise TokenFileError(f"{source}, line {number}: duplicate token for user {name!r}")
        users[token] = User(name, uid, groups)
    return users


class TokenAuthenticator:
    def __init__(self, users: dict[str, User], *, readonly_group: str = READONLY_GROUP) -> None:
        self._users = users
        self.readonly_group = readonly_group

    @classmethod
    def from_file(cls, path: str | Path, *, readonly_group: str = READONLY_GROUP) -> TokenAuthenticator:
        text = Path(path).read_text()
        return cls(parse_token_file(text.splitlines(), source=str(path)), readonly_group=readonly_group)

    def authenticate(self, authorization: str | None) -> User:
        """The user of an ``Authorization: Bearer <token>`` header; 401 otherwise."""
        if not authorization:
            raise errors.unauthorized()
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise errors.unauthorized()
        for known, user in self._users.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                return user
        raise errors.unauthorized()

    def authorize(self, user: User, *, verb: str, resource: str, group: str, namespace: str | None) -> None:
        """403 with kube-apiserver's message when a read-only user tries to write."""
        if verb in _READ_VERBS or self.readonly_group not in user.groups:
            return
        where = f' in the namespace "{namespace}"' if namespace else ""
        raise errors.forbidden(
            f'{resource} is forbidden: User "{user.name}" cannot {verb} resource "{resource}" in API group '
            f'"{group}"{where}: the group {self.readonly_group} is read-only'
        )
