"""ServiceAccount tokens: bound, expiring JWTs (Kubernetes' TokenRequest, ``pkg/serviceaccount``).

Signed with ES256 by PyJWT (a maintained JWT library: claims, expiry, audience and
signature checks are its, not ours) with an EC P-256 key kept in the data dir
(``sa.key``, as kubeadm names it). Claims as kube-apiserver writes them::

    {"iss": ISSUER, "sub": "system:serviceaccount:NS:NAME", "aud": [...], "exp": ..., "iat": ..., "nbf": ...,
     "jti": UUID, "kubernetes.io": {"namespace": NS, "serviceaccount": {"name", "uid"},
                                    "pod": {"name", "uid"}?, "node": {"name", "uid"}?}}

The key id (``kid``) is the base64url SHA-256 of the public key's DER, as Kubernetes computes it,
and the public key is published as a JWK set (``/openid/v1/jwks``). Whether the account and the
bound pod still exist is the caller's check (:mod:`kubelite.gateway.sa_auth`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"
MIN_EXPIRATION = 600  # seconds: kube-apiserver refuses shorter TokenRequests
MAX_EXPIRATION = 48 * 3600  # kubelite's cap (kube: --service-account-max-token-expiration)
DEFAULT_EXPIRATION = 3600
ALGORITHM = "ES256"


class InvalidToken(ValueError):
    """Not a valid token of this issuer for these audiences (the message says why)."""


@dataclass(frozen=True)
class Binding:
    kind: str  # "Pod" or "Node"... only Pod is checked by the gateway
    name: str
    uid: str


def ensure_signing_key(path: Path) -> None:
    """An EC P-256 private key at ``path`` (PEM, mode 0600), made when absent."""
    if path.exists():
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenSigner:
    def __init__(self, key_pem: bytes, *, issuer: str = DEFAULT_ISSUER, audiences: tuple[str, ...] = ()) -> None:
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("the service account signing key must be an EC P-256 private key (PEM)")
        self._key = key
        self.public_key = key.public_key()
        der = self.public_key.public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = _b64(hashlib.sha256(der).digest())
        self.issuer = issuer
        self.audiences = audiences or (issuer,)  # kube-apiserver's --api-audiences default

    @classmethod
    def from_file(cls, path: Path, **kwargs: Any) -> TokenSigner:
        return cls(path.read_bytes(), **kwargs)

    def issue(self, *, namespace: str, name: str, uid: str, audiences: list[str] | None, seconds: int,
              now: datetime, bound: Binding | None = None) -> tuple[str, datetime]:
        """(token, expiry) for ServiceAccount ``namespace/name``."""
        expires = now + timedelta(seconds=seconds)
        exp = int(expires.timestamp())
        private: dict[str, Any] = {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}}
        if bound is not None:
            private[bound.kind.lower()] = {"name": bound.name, "uid": bound.uid}
        claims = {"iss": self.issuer, "sub": f"system:serviceaccount:{namespace}:{name}",
                  "aud": list(audiences or self.audiences), "exp": exp,
                  "iat": int(now.timestamp()), "nbf": int(now.timestamp()), "jti": str(uuid.uuid4()),
                  "kubernetes.io": private}
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})
        return token, datetime.fromtimestamp(exp, expires.tzinfo)

    def verify(self, token: str, *, audiences: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The claims of a token this signer issued, for one of ``audiences``; raises InvalidToken."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self.public_key, algorithms=[ALGORITHM], audience=list(audiences or self.audiences),
                issuer=self.issuer, options={"require": ["exp", "iat", "sub", "aud", "iss"]})
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
        private = claims.get("kubernetes.io")
        if not isinstance(private, dict) or not isinstance(private.get("serviceaccount"), dict):
            raise InvalidToken("not a service account token")
        return claims

    def openid_configuration(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "jwks_uri": f"{self.issuer}/openid/v1/jwks",
                "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": [ALGORITHM]}

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.public_key))
        return {"keys": [{**jwk, "use": "sig", "kid": self.kid, "alg": ALGORITHM}]}


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")
