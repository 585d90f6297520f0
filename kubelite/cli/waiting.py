"""Waiting on the gateway by watching (never by sleeping): until an object is
gone, or until a predicate on it holds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubelite.cli.errors import ApiStatusError, CliError
from kubelite.cli.kinds import ResourceInfo
from kubelite.cli.session import Session
from kubelite.util import clock

Obj = dict[str, Any]


def watch_object(
    s: Session, res: ResourceInfo, name: str, ns: str | None, *, timeout: float | None,
    on_change: Callable[[Obj | None], bool],
) -> None:
    """Call ``on_change(obj)`` with the object now and after each change (None once it is
    deleted) until it returns True. Raises CliError after ``timeout`` seconds (None: no limit)."""
    deadline = clock.Deadline(timeout)
    while True:
        try:
            obj: Obj | None = s.client.get(res.object_path(name, ns))
        except ApiStatusError as exc:
            if exc.code != 404:
                raise
            obj = None
        if on_change(obj) or obj is None:
            return
        version = (obj.get("metadata") or {}).get("resourceVersion")
        uid = (obj.get("metadata") or {}).get("uid")
        while True:
            remaining = None if timeout is None else deadline.remaining()
            if deadline.expired():
                raise CliError(f"timed out waiting for the condition on {res.plural}/{name}")
            server_limit = 300 if remaining is None else max(1, int(remaining))
            params = {"fieldSelector": f"metadata.name={name}", "resourceVersion": version,
                      "timeoutSeconds": server_limit, "allowWatchBookmarks": "true"}
            try:
                for event in s.client.watch(res.collection_path(ns), params, timeout=server_limit + 5):
                    current = event.get("object") or {}
                    meta = current.get("metadata") or {}
                    version = meta.get("resourceVersion") or version
                    if event.get("type") == "BOOKMARK" or meta.get("name") != name:
                        continue
                    if event.get("type") == "DELETED" or (uid and meta.get("uid") not in (None, uid)):
                        on_change(None)
                        return
                    if on_change(current):
                        return
            except ApiStatusError as exc:
                if exc.code != 410:
                    raise
                break  # too old a version: read the object again


def wait_deleted(s: Session, res: ResourceInfo, name: str, ns: str | None, uid: str | None,
                 timeout: float | None) -> None:
    def gone(obj: Obj | None) -> bool:
        return obj is None or (uid is not None and (obj.get("metadata") or {}).get("uid") != uid)

    watch_object(s, res, name, ns, timeout=timeout, on_change=gone)
