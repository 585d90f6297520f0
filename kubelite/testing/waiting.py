"""Waiting for a condition with a deadline, the one way chaos tests (and kubelite's own tests)
wait: never sleep and hope."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

from kubelite.util import clock

T = TypeVar("T")


@overload
async def wait_for(
    predicate: Callable[[], Awaitable[T]],
    timeout: float = ...,
    interval: float = ...,
    *,
    message: str | None = ...,
    ignore: tuple[type[Exception], ...] = ...,
) -> T: ...


@overload
async def wait_for(
    predicate: Callable[[], T],
    timeout: float = ...,
    interval: float = ...,
    *,
    message: str | None = ...,
    ignore: tuple[type[Exception], ...] = ...,
) -> T: ...


async def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 10.0,
    interval: float = 0.05,
    *,
    message: str | None = None,
    ignore: tuple[type[Exception], ...] = (),
) -> Any:
    """Poll ``predicate`` (sync or async) until it returns something truthy.

    Returns that value. Exceptions of the types in ``ignore`` count as "not
    yet" (e.g. connection refused while a server starts); the last one is
    named in the error. Raises AssertionError once ``timeout`` seconds pass.
    """
    deadline = clock.Deadline(timeout)
    last_error: Exception | None = None
    last_value: object = None
    while True:
        try:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            last_value = value
        except ignore as exc:
            last_error = exc
        remaining = deadline.remaining()
        if deadline.expired():
            what = message or getattr(predicate, "__name__", repr(predicate))
            detail = f"last error: {last_error!r}" if last_error else f"last value: {last_value!r}"
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} ({detail})")
        await asyncio.sleep(min(interval, remaining))


def wait_for_sync(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.05, *,
                  message: str | None = None) -> T:
    """:func:`wait_for` for code that may not run an event loop (a synchronous fixture, Playwright's
    sync API, whose loop runs in the caller's thread): polls ``predicate`` until it returns something
    truthy, and returns that. Raises AssertionError once ``timeout`` seconds pass."""
    deadline = clock.Deadline(timeout)
    while True:
        value = predicate()
        if value:
            return value
        if deadline.expired():
            what = message or getattr(predicate, "__name__", repr(predicate))
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last value: {value!r})")
        time.sleep(min(interval, deadline.remaining()))
