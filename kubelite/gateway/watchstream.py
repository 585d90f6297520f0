"""watch: a chunked stream of ``{"type": ..., "object": ...}`` lines, as kube-apiserver sends them.

- resourceVersion "" or "0": synthetic ADDED events for what exists, then changes;
  "N": changes after N. ``sendInitialEvents=true`` ends the initial events with
  a BOOKMARK annotated ``k8s.io/initial-events-end``.
- Selectors apply to both the old and the new object: an object that stops
  matching is sent as DELETED, one that starts matching as ADDED.
- Compacted history ends the stream with an ERROR event carrying a 410
  Expired Status (clients re-list); ``timeoutSeconds`` ends it cleanly.
- ``allowWatchBookmarks``: a BOOKMARK with the last revision sent, when idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from kubelite.api import errors
from kubelite.gateway.common import Target, include_object, wants_table
from kubelite.gateway.options import ListOptions, parse_list_options
from kubelite.gateway.read import list_documents
from kubelite.gateway.respond import dumps, status_doc
from kubelite.gateway.state import GatewayState, state_of
from kubelite.gateway.tables import build_table
from kubelite.watch import WatchEvent, watch

log = logging.getLogger(__name__)
_QUEUE_SIZE = 1000
_CLOSE = object()


def filter_event(
    event_type: str, new: Mapping[str, Any], old: Mapping[str, Any] | None,
    matches: Callable[[Mapping[str, Any]], bool] | None,
) -> tuple[str, Mapping[str, Any]] | None:
    """What a filtered watcher sees of an event, or None (kube's filterWithAttrs)."""
    if matches is None:
        return event_type, new
    if event_type == "DELETED":
        return (event_type, new) if matches(old if old is not None else new) else None
    new_ok = matches(new)
    old_ok = old is not None and event_type == "MODIFIED" and matches(old)
    if new_ok and old_ok:
        return "MODIFIED", new
    if new_ok:
        return "ADDED", new
    if old_ok:
        return "DELETED", new
    return None


@dataclass
class _Encoder:
    """Event lines for a plain-JSON or a Table watcher (Table: column headers in the first event only)."""

    state: GatewayState
    kind: str
    table: bool
    include: str
    headers_sent: bool = False

    def line(self, event_type: str, doc: Mapping[str, Any]) -> bytes:
        obj: Any = doc
        if self.table and event_type != "BOOKMARK":
            obj = build_table(self.kind, [dict(doc)], now=self.state.clock(), include_object=self.include,
                              headers=not self.headers_sent)
            self.headers_sent = True
        return dumps({"type": event_type, "object": obj}) + b"\n"


def bookmark(target: Target, revision: int, *, initial_events_end: bool = False) -> dict[str, Any]:
    res = target.served.resource
    metadata: dict[str, Any] = {"resourceVersion": str(revision)}
    if initial_events_end:
        metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {"kind": res.kind, "apiVersion": res.api_version, "metadata": metadata}


async def _pump(events: AsyncIterator[WatchEvent], queue: asyncio.Queue[Any]) -> None:
    try:
        async for event in events:
            await queue.put(event)
    except errors.ApiError as exc:
        await queue.put(exc)
    except Exception as exc:  # noqa: BLE001 - reported to the watcher as an ERROR event, and logged
        log.exception("watch stream failed")
        await queue.put(errors.internal(f"watch failed: {exc}"))


async def watch_objects(request: web.Request, target: Target) -> web.StreamResponse:
    state = state_of(request)
    options = parse_list_options(request.query, target.served, name=target.info.name)
    res = target.served.resource
    encoder = _Encoder(state, res.kind, wants_table(request), include_object(request))
    initial: list[dict[str, Any]] = []
    if options.resource_version in ("", "0") or options.send_initial_events:
        listing = ListOptions(label_selector=options.label_selector, field_selector=options.field_selector)
        initial, result = await list_documents(request, target, listing)
        last_revision = int(result.resource_version)
    else:
        last_revision = int(options.resource_version)
    timeout = min(float(options.timeout_seconds or state.watch.default_timeout), state.watch.max_timeout)
    response = web.StreamResponse(headers={"Content-Type": "application/json", "Cache-Control": "no-cache"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    matches = options.matches if options.filters else None
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=_QUEUE_SIZE)
    events = watch(state.client, res, target.namespace, from_revision=last_revision + 1)
    pump = asyncio.create_task(_pump(events, queue), name=f"watch {res.plural}")
    state.open_watch_queues.add(queue)
    state.metrics.watches.labels(res.plural).inc()
    state.metrics.open_watches.labels(res.plural).inc()
    try:
        for doc in initial:
            await response.write(encoder.line("ADDED", doc))
        if options.send_initial_events:
            await response.write(encoder.line("BOOKMARK", bookmark(target, last_revision, initial_events_end=True)))
        await _stream(state, target, response, queue, encoder, options=options, matches=matches,
                      last_revision=last_revision, timeout=timeout)
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
    except ConnectionError:
        pass  # the client went away
    finally:
        state.open_watch_queues.discard(queue)
        state.metrics.open_watches.labels(res.plural).dec()
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        await events.aclose()  # type: ignore[attr-defined]
    return response


async def _stream(
    state: GatewayState, target: Target, response: web.StreamResponse, queue: asyncio.Queue[Any],
    encoder: _Encoder, *, options: ListOptions, matches: Callable[[Mapping[str, Any]], bool] | None,
    last_revision: int, timeout: float,
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    interval = state.watch.bookmark_interval if options.allow_bookmarks else None
    sent = state.metrics.watch_events
    plural = target.served.resource.plural
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        try:
            item = await asyncio.wait_for(queue.get(), min(remaining, interval) if interval else remaining)
        except TimeoutError:
            if interval and loop.time() < deadline:
                await response.write(encoder.line("BOOKMARK", bookmark(target, last_revision)))
                sent.labels(plural, "BOOKMARK").inc()
            continue
        if item is _CLOSE:
            return
        if isinstance(item, errors.ApiError):
            await response.write(dumps({"type": "ERROR", "object": status_doc(item)}) + b"\n")
            return
        last_revision = item.revision
        old = item.old_object.to_dict() if matches is not None and item.old_object is not None else None
        shown = filter_event(item.type, item.object.to_dict(), old, matches)
        if shown is not None:
            await response.write(encoder.line(*shown))
            sent.labels(plural, shown[0]).inc()


def close_all(state: GatewayState) -> None:
    """Gateway shutdown: end every open watch stream cleanly."""
    for queue in list(state.open_watch_queues):
        with contextlib.suppress(asyncio.QueueFull):
            queue.put_nowait(_CLOSE)
