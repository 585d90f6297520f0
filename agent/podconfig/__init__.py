"""Configuration a pod's containers get: environment, volumes (ConfigMaps, Secrets, downward API).

Pure modules (``fieldpath``, ``env``, ``projection``) decide what a container sees; ``sources``
(ConfigMap/Secret informers), ``atomicwriter`` and ``volumes`` do the I/O.
"""
