"""Which ServiceAccounts a namespace lacks (kube's serviceaccounts-controller,
``pkg/controller/serviceaccount/serviceaccounts_controller.go``): every active namespace has
``default``; a namespace being deleted gets nothing new. Pure."""

from __future__ import annotations

from collections.abc import Iterable

from kubelite.api.core import Namespace

DEFAULT_ACCOUNTS = ("default",)


def missing_accounts(namespace: Namespace | None, existing: Iterable[str],
                     wanted: tuple[str, ...] = DEFAULT_ACCOUNTS) -> list[str]:
    """The names of ``wanted`` accounts to create in ``namespace`` (none when it is absent or terminating)."""
    if namespace is None or namespace.metadata.deletion_timestamp is not None:
        return []
    if namespace.status is not None and namespace.status.phase == "Terminating":
        return []
    have = set(existing)
    return [name for name in wanted if name not in have]
