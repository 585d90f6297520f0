"""Errors the user sees as one line (no traceback) and a non-zero exit code."""

from __future__ import annotations

from typing import Any


class CliError(Exception):
    """A failure to report as ``error: <message>``."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def line(self) -> str:
        return f"error: {self}"


class ApiStatusError(CliError):
    """The gateway answered with a Kubernetes ``Status`` failure."""

    def __init__(self, status: dict[str, Any], *, http_code: int) -> None:
        self.status = status
        self.code = int(status.get("code") or http_code)
        self.reason = str(status.get("reason") or "")
        super().__init__(str(status.get("message") or f"the server answered HTTP {http_code}"))

    def line(self) -> str:
        # kubectl: 'Error from server (NotFound): deployments.apps "web" not found'
        if self.reason:
            return f"Error from server ({self.reason}): {self}"
        return f"Error from server: {self}"


class ServerUnreachable(CliError):
    def __init__(self, server: str, detail: str) -> None:
        super().__init__(
            f"the connection to the server {server} was refused or failed ({detail}) "
            "- is the gateway running (`kl up`) and is --server right?"
        )

    def line(self) -> str:
        return str(self)
