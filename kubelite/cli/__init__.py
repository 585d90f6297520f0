"""``kl``: kubelite's kubectl-like command line, and ``kl up`` (a whole local cluster).

The CLI talks to the gateway only (Kubernetes REST conventions). It never
imports ``controllers`` or ``agent``: ``kl up`` and ``kl agent`` start those as
``python -m ...`` processes.
"""
