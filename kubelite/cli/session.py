"""What every gateway command needs: the connection (flags > env > kubeconfig),
the client, kind resolution with discovery fallback, and manifest loading."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubelite.api.errors import ApiError
from kubelite.api.parse import load_documents
from kubelite.cli import kinds, kubeconfig
from kubelite.cli.client import ApiClient, Connection
from kubelite.cli.errors import ApiStatusError, CliError
from kubelite.cli.kinds import ResourceInfo

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass
class GlobalOptions:
    server: str | None = None
    token: str | None = None
    kubeconfig: str | None = None
    request_timeout: float = 30.0


@dataclass
class Session:
    conn: Connection
    client: ApiClient
    _discovered: list[ResourceInfo] | None = field(default=None, repr=False)

    @classmethod
    def open(cls, opts: GlobalOptions, namespace: str | None = None) -> Session:
        path = Path(opts.kubeconfig).expanduser() if opts.kubeconfig else kubeconfig.default_path()
        conn = kubeconfig.resolve_connection(
            server=opts.server, token=opts.token, namespace=namespace,
            env=os.environ, kubeconfig=kubeconfig.load(path),
        )
        return cls(conn, ApiClient(conn, timeout=opts.request_timeout))

    @property
    def namespace(self) -> str:
        return self.conn.namespace

    # -- kinds -------------------------------------------------------------

    def discovered(self) -> list[ResourceInfo]:
        """Resources the gateway serves (asked once, only when the built-in table falls short)."""
        if self._discovered is None:
            found = kinds.parse_discovery("v1", self.client.get("/api/v1"))
            try:
                apis = self.client.get("/apis")
            except ApiStatusError:
                apis = {}
            for gv in kinds.group_versions(apis):
                try:
                    found += kinds.parse_discovery(gv, self.client.get(f"/apis/{gv}"))
                except ApiStatusError:
                    continue
            self._discovered = found
        return self._discovered

    def resource(self, name: str) -> ResourceInfo:
        res = kinds.resolve(name) or kinds.resolve(name, self.discovered())
        if res is None:
            raise CliError(f'the server doesn\'t have a resource type "{name}"')
        return res

    def resource_of(self, doc: dict[str, Any]) -> ResourceInfo:
        api_version, kind = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
        res = kinds.resolve_kind(api_version, kind) or kinds.resolve_kind(api_version, kind, self.discovered())
        if res is None:
            raise CliError(f'no matches for kind "{kind}" in version "{api_version}"')
        return res

    def namespace_of(self, res: ResourceInfo, doc: dict[str, Any], explicit: str | None) -> str | None:
        """The namespace a manifest object goes to; a clash with ``-n`` is an error, as in kubectl."""
        if not res.namespaced:
            return None
        in_doc = (doc.get("metadata") or {}).get("namespace")
        if in_doc and explicit and in_doc != explicit:
            raise CliError(
                f'the namespace from the provided object "{in_doc}" does not match the namespace '
                f'"{explicit}". You must pass \'--namespace={in_doc}\' to perform this operation.')
        return in_doc or explicit or self.namespace


def manifest_files(path: str, recursive: bool) -> list[str]:
    """``-f`` arguments → files: '-' (stdin), a file, or a directory's manifests."""
    if path == "-":
        return ["-"]
    p = Path(path)
    if p.is_dir():
        pattern = "**/*" if recursive else "*"
        return sorted(str(f) for f in p.glob(pattern) if f.is_file() and f.suffix in MANIFEST_SUFFIXES)
    if not p.exists():
        raise CliError(f'the path "{path}" does not exist')
    return [path]


def load_manifests(paths: list[str], recursive: bool = False) -> Iterator[tuple[str, dict[str, Any]]]:
    """(source, document) for every object in the ``-f`` arguments."""
    for arg in paths:
        for source in manifest_files(arg, recursive):
            try:
                text = sys.stdin.read() if source == "-" else Path(source).read_text()
            except OSError as exc:
                raise CliError(f"cannot read {source}: {exc.strerror or exc}") from None
            try:
                docs = load_documents(text)
            except ApiError as exc:
                raise CliError(f"error parsing {source}: {exc}") from None
            for doc in docs:
                if not doc.get("kind") or not doc.get("apiVersion"):
                    raise CliError(f"error validating {source}: an object has no apiVersion or kind")
                yield source, doc
