"""``python -m agent.runtime.oci.check [RUNC]``: exit 0 when this host can run the oci runtime, else
print what it lacks (one line) and exit 1. For ``kl up --runtime auto|oci``, which may not import
the agent (layers) but must say why it picked a runtime."""

from __future__ import annotations

import sys

from agent.runtime.oci.runtime import preflight

if __name__ == "__main__":
    problem = preflight(sys.argv[1] if len(sys.argv) > 1 else "runc")
    if problem:
        print(problem)
    sys.exit(1 if problem else 0)
