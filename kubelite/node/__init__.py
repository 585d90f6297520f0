"""The node agent's contracts that kl and the gateway share (they never import ``agent/``): per-node
agent tokens, the exec/attach/port-forward channel protocol, and the agent flags ``kl up`` checks
(``--eviction-hard``, container-log caps). Imports api and util (docs/architecture.md)."""
