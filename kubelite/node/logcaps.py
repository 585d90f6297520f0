"""The container-log caps' rules, shared by the agent's flags and `kl up` (which checks them before
starting anything): the kubelet's `--container-log-max-size` (a quantity of at least 1Ki; default
10Mi) and `--container-log-max-files` (at least 2; default 5).

Each function raises ValueError with a message that does not repeat the flag's name (argparse
and `kl up` add it).
"""

from __future__ import annotations

from kubelite.api.quantity import to_bytes

DEFAULT_MAX_SIZE = 10 << 20
DEFAULT_MAX_FILES = 5


def parse_max_size(raw: str) -> int:
    """A quantity (``10Mi``, ``1G``, ``500Ki``) in bytes, at least 1Ki."""
    size = to_bytes(raw)
    if size < 1024:
        raise ValueError(f"{raw!r} must be at least 1Ki")
    return size


def parse_max_files(raw: str | int) -> int:
    """A count of log files, the current one included: an integer of at least 2."""
    text = str(raw)
    if not text.isdigit() or int(text) < 2:
        raise ValueError(f"{raw!r} must be an integer of at least 2")
    return int(text)
