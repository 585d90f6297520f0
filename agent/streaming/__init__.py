"""The agent's streaming endpoints: ``pods/exec``, ``pods/attach``, ``pods/portforward`` (WebSocket).

The gateway authorises the client's request and proxies its WebSocket here with this node's agent
token (kubelite/gateway/streaming.py); these modules speak Kubernetes' protocols
(``kubelite.node.remotecommand``; SPDY/3.1 for kubectl's port-forward, ``spdy.py``) and drive the runtime.
"""
