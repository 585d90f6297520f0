"""The controller manager: scheduler, ReplicaSet, Deployment, node lifecycle and garbage collector.

``python -m controllers`` runs them all in one leader-elected process
(:mod:`controllers.manager`); each controller is one module with one class,
and its decisions live in pure modules next to it (``scheduling/``,
``replicaset_plan``, ``rollout``, ``taints``).
"""
