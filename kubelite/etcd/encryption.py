"""Encryption at rest of stored values, in kube-apiserver's ``EncryptionConfiguration`` format.

``--encryption-provider-config FILE`` (``apiserver.config.k8s.io/v1``, kind ``EncryptionConfiguration``)
lists, per resource, providers: the first one encrypts every write, all of them are tried on reads
(by their prefix), so keys rotate as Kubernetes documents it. Stored values look as in kube:

- ``aescbc``: ``k8s:enc:aescbc:v1:<key name>:`` + 16-byte IV + AES-CBC ciphertext with PKCS#7 padding
  (keys of 16, 24 or 32 bytes), with the ``cryptography`` library (pyca, OpenSSL-backed);
- ``secretbox``: ``k8s:enc:secretbox:v1:<key name>:`` + 24-byte nonce + XSalsa20-Poly1305 box
  (32-byte keys), with ``PyNaCl`` (libsodium);
- ``identity``: the JSON itself. It reads only values without a ``k8s:enc:`` prefix.

A value read with a provider other than the first is *stale*: an update that changes nothing still
rewrites it (``kubectl get secrets -A -o json | kubectl replace -f -`` re-encrypts with the new key).
``aesgcm`` and ``kms`` are refused with a clear message. The store calls :func:`to_storage` on each
write and every reader decodes through :func:`from_storage` (``kubelite.storage.store.decode``).
With ``--encryption-provider-config-automatic-reload`` a process follows the file
(:mod:`kubelite.etcd.encryption_reload`).

The ciphers' libraries (cryptography's Rust and OpenSSL bindings, libsodium: ~8 MB of RSS per
process) are imported when a provider first encrypts or decrypts, not with this module: every
process imports the store, few ever read an encrypted value (issue 12's idle footprint).
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

ENCRYPTED_PREFIX = b"k8s:enc:"
API_VERSIONS = ("apiserver.config.k8s.io/v1",)
_AES_BLOCK = 16


class DecryptError(Exception):
    """A stored value no configured provider can read (wrong key, no config, corrupt data)."""


class Provider(Protocol):
    @property
    def prefix(self) -> bytes: ...

    def encrypt(self, plaintext: bytes) -> bytes: ...

    def decrypt(self, stored: bytes) -> bytes: ...


@dataclass(frozen=True)
class Identity:
    prefix: bytes = b""

    def encrypt(self, plaintext: bytes) -> bytes:
        return plaintext

    def decrypt(self, stored: bytes) -> bytes:
        if stored.startswith(ENCRYPTED_PREFIX):
            raise DecryptError("identity transformer tried to read encrypted data")
        return stored


@dataclass(frozen=True)
class AesCbc:
    name: str
    key: bytes

    @property
    def prefix(self) -> bytes:
        return f"k8s:enc:aescbc:v1:{self.name}:".encode()

    def encrypt(self, plaintext: bytes) -> bytes:
        from cryptography.hazmat.primitives import padding  # here: see the module docstring
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        iv = os.urandom(_AES_BLOCK)
        padder = padding.PKCS7(_AES_BLOCK * 8).padder()
        encryptor = Cipher(algorithms.AES(self.key), modes.CBC(iv)).encryptor()
        body = encryptor.update(padder.update(plaintext) + padder.finalize()) + encryptor.finalize()
        return self.prefix + iv + body

    def decrypt(self, stored: bytes) -> bytes:
        data = stored[len(self.prefix):]
        if len(data) < 2 * _AES_BLOCK or len(data) % _AES_BLOCK:
            raise DecryptError("the data is not a whole number of AES blocks after the IV")
        from cryptography.hazmat.primitives import padding  # here: see the module docstring
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        decryptor = Cipher(algorithms.AES(self.key), modes.CBC(data[:_AES_BLOCK])).decryptor()
        padded = decryptor.update(data[_AES_BLOCK:]) + decryptor.finalize()
        unpadder = padding.PKCS7(_AES_BLOCK * 8).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError as exc:
            raise DecryptError("invalid padding on input (wrong key?)") from exc


@dataclass(frozen=True)
class SecretBox:
    name: str
    key: bytes

    @property
    def prefix(self) -> bytes:
        return f"k8s:enc:secretbox:v1:{self.name}:".encode()

    def encrypt(self, plaintext: bytes) -> bytes:
        import nacl.secret  # here: see the module docstring

        return self.prefix + bytes(nacl.secret.SecretBox(self.key).encrypt(plaintext))

    def decrypt(self, stored: bytes) -> bytes:
        import nacl.exceptions  # here: see the module docstring
        import nacl.secret

        try:
            return bytes(nacl.secret.SecretBox(self.key).decrypt(stored[len(self.prefix):]))
        except nacl.exceptions.CryptoError as exc:
            raise DecryptError("output array was not large enough for encryption (wrong key?)") from exc


@dataclass(frozen=True)
class Transformer:
    """The providers of one set of resources, in the order of the configuration."""

    providers: tuple[Provider, ...]

    def to_storage(self, plaintext: bytes) -> bytes:
        return self.providers[0].encrypt(plaintext)

    def from_storage(self, stored: bytes) -> tuple[bytes, bool]:
        """(plaintext, stale): stale when a provider other than the first read it."""
        problems = []
        for index, provider in enumerate(self.providers):
            if not stored.startswith(provider.prefix):
                continue
            try:
                return provider.decrypt(stored), index != 0
            except DecryptError as exc:
                if provider.prefix:  # a keyed prefix matched: this is the one, and it failed
                    raise
                problems.append(str(exc))
        raise DecryptError(f"no matching prefix found{': ' + '; '.join(problems) if problems else ''}")


class Encryption(Protocol):
    """What readers and writers ask: an :class:`EncryptionConfig`, or one that follows its file
    (:class:`kubelite.etcd.encryption_reload.ReloadingEncryption`)."""

    def transformer(self, plural: str, group: str) -> Transformer | None: ...


@dataclass(frozen=True)
class EncryptionConfig:
    """Resource name (``secrets``, ``deployments.apps``, ``*.apps``, ``*.*``) → its transformer."""

    resources: dict[str, Transformer]
    source: str = ""

    def transformer(self, plural: str, group: str) -> Transformer | None:
        for name in (f"{plural}.{group}" if group else plural, f"{plural}.", f"*.{group}", "*.*"):
            if name in self.resources:
                return self.resources[name]
        return None


def to_storage(config: Encryption | None, plural: str, group: str, plaintext: bytes) -> bytes:
    transformer = config.transformer(plural, group) if config is not None else None
    return plaintext if transformer is None else transformer.to_storage(plaintext)


def from_storage(config: Encryption | None, plural: str, group: str, stored: bytes) -> tuple[bytes, bool]:
    """(plaintext, stale) of a stored value; DecryptError names the resource when it cannot be read."""
    transformer = config.transformer(plural, group) if config is not None else None
    if transformer is None:
        if stored.startswith(ENCRYPTED_PREFIX):
            shown = stored[:stored.find(b":", 18) + 1].decode(errors="replace")
            raise DecryptError(f"{plural}: the stored value is encrypted ({shown}) but this process has no "
                               "--encryption-provider-config for it")
        return stored, False
    try:
        return transformer.from_storage(stored)
    except DecryptError as exc:
        raise DecryptError(f"{plural}: cannot decrypt the stored value: {exc}") from None


# -- the configuration file ------------------------------------------------------------------------

def _keys(provider: str, body: Any, sizes: tuple[int, ...]) -> list[tuple[str, bytes]]:
    keys = (body or {}).get("keys") if isinstance(body, dict) else None
    if not keys:
        raise ValueError(f"{provider}: keys: at least one key is required")
    found = []
    for i, key in enumerate(keys):
        name, secret = (key or {}).get("name"), (key or {}).get("secret")
        if not name or not secret:
            raise ValueError(f"{provider}.keys[{i}]: name and secret are required")
        try:
            raw = base64.b64decode(str(secret), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{provider}.keys[{i}] ({name}): secret is not valid base64") from None
        if len(raw) not in sizes:
            wanted = " or ".join(str(s) for s in sizes)
            raise ValueError(f"{provider}.keys[{i}] ({name}): secret is {len(raw)} bytes, must be {wanted}")
        found.append((str(name), raw))
    return found


def _providers(entries: Any, at: str) -> tuple[Provider, ...]:
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{at}.providers: at least one provider is required")
    providers: list[Provider] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ValueError(f"{at}.providers[{i}]: exactly one provider type is required")
        (kind, body), = entry.items()
        if kind == "identity":
            providers.append(Identity())
        elif kind == "aescbc":
            providers += [AesCbc(name, key) for name, key in _keys(kind, body, (16, 24, 32))]
        elif kind == "secretbox":
            providers += [SecretBox(name, key) for name, key in _keys(kind, body, (32,))]
        else:
            raise ValueError(f"{at}.providers[{i}]: provider {kind!r} is not supported (aescbc, secretbox, identity are)")
    return tuple(providers)


def parse_config(doc: Any, source: str = "") -> EncryptionConfig:
    if not isinstance(doc, dict) or doc.get("kind") != "EncryptionConfiguration" or \
            doc.get("apiVersion") not in API_VERSIONS:
        raise ValueError(f"not an EncryptionConfiguration of {', '.join(API_VERSIONS)}")
    resources: dict[str, Transformer] = {}
    for i, group in enumerate(doc.get("resources") or []):
        at = f"resources[{i}]"
        names = (group or {}).get("resources") or []
        if not names:
            raise ValueError(f"{at}.resources: at least one resource is required")
        transformer = Transformer(_providers((group or {}).get("providers"), at))
        for name in names:
            if name in resources:
                raise ValueError(f"{at}.resources: {name!r} is listed twice")
            resources[str(name)] = transformer
    return EncryptionConfig(resources, source)


def load_config(path: str | Path) -> EncryptionConfig:
    """Read and check the file; ValueError says what is wrong (one line, the flag's caller adds the path)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(exc.strerror or str(exc)) from None
    return parse_config_text(data, str(path))


def parse_config_text(data: bytes, source: str = "") -> EncryptionConfig:
    """The file's content, checked; ValueError says what is wrong in one line."""
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise ValueError(f"not YAML: {str(exc).splitlines()[0]}") from None
    return parse_config(doc, source)


def generated_config(path: Path) -> Path:
    """``kl up``'s default: an aescbc key for secrets, made once and kept (mode 0600) in its data dir."""
    if not path.exists():
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        doc = {"apiVersion": API_VERSIONS[0], "kind": "EncryptionConfiguration", "resources": [{
            "resources": ["secrets"],
            "providers": [{"aescbc": {"keys": [{"name": "key1", "secret": key}]}}, {"identity": {}}]}]}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            yaml.safe_dump(doc, out, sort_keys=False)
    os.chmod(path, 0o600)
    return path
