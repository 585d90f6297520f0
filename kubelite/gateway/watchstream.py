"""watch: a chunked stream of ``{"type": ..., "object": ...}`` lines, as kube-apiserver sends them.

- resourceVersion "" or "0": synthetic ADDED events for what exists, then changes;
  "N": changes after N. ``sendInitialEvents=true`` ends the initial events with
  a BOOKMARK annotated ``k8s.io/initial-events-end``.
- Selectors apply to both the old and the new object: an object that stops
  matching is sent as DELETED, one that starts matching as ADDED.
- A start older than what the gateway's watch cache holds is one ERROR event
  carrying a 410 Expired Status ("too old resource version"; clients re-list),
  as kube-apiserver answers; ``timeoutSeconds`` ends the stream cleanly.
- ``allowWatchBookmarks``: a BOOKMARK with the last revision sent, when idle.

Events come from the resource's shared hub (:mod:`kubelite.gateway.watchhub`),
never from etcd's history.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from kubelite.api import errors
from kubelite.gateway.common import Target, include_object, wants_table
from kubelite.gateway.options import ListOptions, parse_list_options
from kubelite.gateway.read import list_documents
from kubelite.gateway.respond import dumps, status_doc
from kubelite.gateway.state import GatewayState, state_of
from kubelite.gateway.crds import table_printer
from kubelite.registry.printers import Printer, build_table
from kubelite.gateway.watchhub import HubEvent, QueueItem
from kubelite.util import clock

log = logging.getLogger(__name__)
_BATCH = 256
CLIENT_CHECK_SECONDS = 2.0  # how soon an idle watch notices its client has gone


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
    printer: Printer | None = None

    def line(self, event_type: str, doc: Mapping[str, Any]) -> bytes:
        obj: Any = doc
        if self.table and event_type != "BOOKMARK":
            obj = build_table(self.kind, [dict(doc)], now=self.state.clock(), include_object=self.include,
                              headers=not self.headers_sent, printer=self.printer)
            self.headers_sent = True
        return dumps({"type": event_type, "object": obj}) + b"\n"


def bookmark(target: Target, revision: int, *, initial_events_end: bool = False) -> dict[str, Any]:
    res = target.served.resource
    metadata: dict[str, Any] = {"resourceVersion": str(revision)}
    if initial_events_end:
        metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {"kind": res.kind, "apiVersion": res.api_version, "metadata": metadata}


async def watch_objects(request: web.Request, target: Target) -> web.StreamResponse:
    state = state_of(request)
    options = parse_list_options(request.query, target.served, name=target.info.name)
    res = target.served.resource
    encoder = _Encoder(state, res.kind, wants_table(request), include_object(request),
                       printer=table_printer(target.served))
    initial: list[dict[str, Any]] = []
    if options.resource_version in ("", "0") or options.send_initial_events:
        listing = ListOptions(label_selector=options.label_selector, field_selector=options.field_selector)
        initial, result = await list_documents(request, target, listing)
        last_revision = int(result.resource_version)
    else:
        last_revision = int(options.resource_version)
    timeout = min(float(options.timeout_seconds or state.watch.default_timeout), state.watch.max_timeout)
    subscription = await state.hubs.subscribe(res, target.namespace, last_revision + 1)
    state.open_watches.add(subscription)
    state.metrics.watches.labels(res.plural).inc()
    state.metrics.open_watches.labels(res.plural).inc()
    state.metrics.watch_opened(target.info, res.kind)
    response = web.StreamResponse(headers={"Content-Type": "application/json", "Cache-Control": "no-cache"})
    response.enable_chunked_encoding()
    try:
        await response.prepare(request)
        for doc in initial:
            await response.write(encoder.line("ADDED", doc))
        if options.send_initial_events:
            await response.write(encoder.line("BOOKMARK", bookmark(target, last_revision, initial_events_end=True)))
        await _stream(request, state, target, response, subscription.queue, encoder, options=options,
                      last_revision=last_revision, timeout=timeout)
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
    except ConnectionError:
        pass  # the client went away
    finally:
        state.open_watches.discard(subscription)
        state.metrics.open_watches.labels(res.plural).dec()
        state.metrics.watch_opened(target.info, res.kind, -1)
        state.hubs.unsubscribe(res, subscription)
    return response


async def _stream(
    request: web.Request, state: GatewayState, target: Target, response: web.StreamResponse,
    queue: asyncio.Queue[QueueItem],
    encoder: _Encoder, *, options: ListOptions, last_revision: int, timeout: float,
) -> None:
    deadline = clock.monotonic() + timeout
    interval = state.watch.bookmark_interval if options.allow_bookmarks else None
    sent = state.metrics.watch_events
    plural = target.served.resource.plural
    matches = options.matches if options.filters else None
    counters: dict[str, Any] = {}  # event type → this resource's counter child (labels() costs a lock)
    next_bookmark = clock.monotonic() + interval if interval else math.inf
    while True:
        now = clock.monotonic()
        remaining = deadline - now
        if remaining <= 0:
            # the rest of the last revision sent goes too: a client resumes after that revision, and
            # one etcd txn's writes (group commit, bind and Event batches) share it
            chunks = []
            while not queue.empty():  # (what follows that revision is dropped: the stream ends here)
                item = queue.get_nowait()
                if not isinstance(item, HubEvent) or item.revision != last_revision:
                    break
                line = _line(item, encoder, matches)
                if line is not None:
                    chunks.append(line[1])
            if chunks:
                await response.write(b"".join(chunks))
            return
        try:
            if queue.empty():  # asyncio.timeout, not wait_for: no task per event
                async with asyncio.timeout(max(0.0, min(remaining, next_bookmark - now, CLIENT_CHECK_SECONDS))):
                    item = await queue.get()
            else:
                item = queue.get_nowait()
        except TimeoutError:
            # aiohttp does not cancel a handler whose client went away (kube-apiserver's request
            # context does): an idle stream looks at its connection now and then.
            if request.transport is None or request.transport.is_closing():
                return
            if clock.monotonic() >= next_bookmark and clock.monotonic() < deadline:
                await response.write(encoder.line("BOOKMARK", bookmark(target, last_revision)))
                sent.labels(plural, "BOOKMARK").inc()
                next_bookmark = clock.monotonic() + (interval or math.inf)
            continue
        # Under a backlog, send everything already queued in one write.
        batch = [item]
        while len(batch) < _BATCH and not queue.empty() and batch[-1] is not None \
                and not isinstance(batch[-1], errors.ApiError):
            batch.append(queue.get_nowait())
        chunks, done = [], False
        for entry in batch:
            if entry is None:
                done = True
                break
            if isinstance(entry, errors.ApiError):
                chunks.append(dumps({"type": "ERROR", "object": status_doc(entry)}) + b"\n")
                done = True
                break
            last_revision = entry.revision
            line = _line(entry, encoder, matches)
            if line is not None:
                chunks.append(line[1])
                counter = counters.get(line[0])
                if counter is None:
                    counter = counters[line[0]] = sent.labels(plural, line[0])
                counter.inc()
        if chunks:
            await response.write(b"".join(chunks))
        if done:
            return


def _line(event: HubEvent, encoder: _Encoder, matches: Callable[[Mapping[str, Any]], bool] | None,
          ) -> tuple[str, bytes] | None:
    if matches is None and not encoder.table:
        return event.type, event.line(event.type)
    shown = filter_event(event.type, event.doc, event.old if matches is not None else None, matches)
    if shown is None:
        return None
    event_type, doc = shown
    return event_type, encoder.line(event_type, doc) if encoder.table else event.line(event_type)


def close_all(state: GatewayState) -> None:
    """Gateway shutdown: end every open watch stream cleanly."""
    for subscription in list(state.open_watches):
        with contextlib.suppress(asyncio.QueueFull):
            subscription.queue.put_nowait(None)
