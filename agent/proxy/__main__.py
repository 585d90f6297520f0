"""``python -m agent.proxy --cleanup --cluster-uid UID NODE...``: remove the node proxy's rules of
these nodes (what a killed agent left). ``kl up`` runs it after stopping its docker agents."""

from __future__ import annotations

import argparse
import asyncio
import sys

from agent.proxy.proxier import Iptables, IptablesError, remove_rules
from agent.proxy.rules import chain_prefix


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.proxy", description=__doc__)
    parser.add_argument("--cleanup", action="store_true", required=True)
    parser.add_argument("--cluster-uid", required=True)
    parser.add_argument("nodes", nargs="+")
    args = parser.parse_args(argv)

    async def run() -> None:
        for node in args.nodes:
            await remove_rules(Iptables(), chain_prefix(args.cluster_uid, node), node)

    try:
        asyncio.run(run())
    except (IptablesError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
