"""Bearer-token authentication from a kube-apiserver style token file, and a read-only group.

Token file lines: ``token,user,uid,"group1,group2"`` (the groups column is
optional; ``#`` starts a comment). Members of the read-only group may use
get, list and watch only (403 otherwise).

A browser cannot set the Authorization header on a WebSocket, so a WebSocket upgrade may carry
the token as kube-apiserver accepts it (k8s.io/apiserver authentication/request/websocket):
a ``Sec-WebSocket-Protocol`` entry ``base64url.bearer.authorization.k8s.io.<base64url token,
unpadded>``. That entry is only a credential: it is never negotiated nor passed on.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kubelite.api import errors

READONLY_GROUP = "kubelite:readonly"
BEARER_PROTOCOL_PREFIX = "base64url.bearer.authorization.k8s.io."
_READ_VERBS = frozenset({"get", "list", "watch"})


@dataclass(frozen=True)
class User:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = field(default=())


ANONYMOUS = User("system:anonymous", groups=("system:unauthenticated",))
# who a gateway without authentication serves: the old insecure port's user
UNSECURED = User("system:unsecured", groups=("system:masters", "system:authenticated"))


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


def websocket_protocols(header: str | None) -> tuple[str, ...]:
    """The subprotocols listed in a ``Sec-WebSocket-Protocol`` header, in order."""
    return tuple(p.strip() for p in (header or "").split(",") if p.strip())


def is_websocket_upgrade(connection: str | None, upgrade: str | None) -> bool:
    """``Connection: Upgrade`` (a token of the list) and ``Upgrade: websocket``, as kube's check."""
    tokens = {t.strip().lower() for t in (connection or "").split(",")}
    return "upgrade" in tokens and (upgrade or "").strip().lower() == "websocket"


def without_bearer_protocol(protocols: tuple[str, ...]) -> tuple[str, ...]:
    """The subprotocols to negotiate: every one but the credential."""
    return tuple(p for p in protocols if not p.startswith(BEARER_PROTOCOL_PREFIX))


def bearer_from_protocols(protocols: tuple[str, ...]) -> str | None:
    """``Bearer <token>`` from the credential subprotocol, None without one.

    Errors: 401 for two such entries, an empty token or one that is not unpadded base64url
    (kube-apiserver's messages: "multiple base64.bearer.authorization tokens specified", ...).
    """
    found = [p[len(BEARER_PROTOCOL_PREFIX):] for p in protocols if p.startswith(BEARER_PROTOCOL_PREFIX)]
    if not found:
        return None
    if len(found) > 1:
        raise errors.unauthorized("multiple base64.bearer.authorization tokens specified")
    encoded = found[0]
    try:  # RawURLEncoding: no padding in the protocol (a padding "=" is not a token character)
        token = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise errors.unauthorized("invalid base64.bearer.authorization token encoding") from None
    if "=" in encoded or not token:
        raise errors.unauthorized("invalid base64.bearer.authorization token encoding")
    return f"Bearer {token}"


def request_credentials(headers: Mapping[str, str]) -> str | None:
    """The Authorization header, or for a WebSocket upgrade without one, its credential subprotocol."""
    authorization = headers.get("Authorization")
    if authorization or not is_websocket_upgrade(headers.get("Connection"), headers.get("Upgrade")):
        return authorization
    return bearer_from_protocols(websocket_protocols(headers.get("Sec-WebSocket-Protocol")))


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
