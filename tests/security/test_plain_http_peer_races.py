"""Races on the local owner's plain HTTP (kubelite.gateway.tlssniff, kubelite.util.peeruid): another
Unix user must not pass for the owner or root by how it times its connection.

A client that sends a request and closes its socket at once leaves an orphaned socket (FIN_WAIT2,
then TIME_WAIT) that the kernel lists with uid 0 and inode 0; the gateway looks the peer's uid up
when the request is handled, after that close. Read as root, any user could delete anything (a body-less
DELETE needs no reading after the close). Real gateway, real sockets, the attacker a real other uid.
"""

from __future__ import annotations

import subprocess

from kubelite.testing import Processes
from tests.security.test_plain_http_owner import OTHER, OWNER, call, revision, tls_flags  # noqa: F401 - fixture

# stdlib only (runs as another user, outside the venv): DELETE, wait 0-4 ms, close; many times
ATTACK = """
import random, socket, sys, time
host, port, path, tries = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
request = f"DELETE {path} HTTP/1.1\\r\\nHost: {host}:{port}\\r\\n\\r\\n".encode()
for _ in range(tries):
    conn = socket.socket()
    conn.connect((host, port))
    conn.sendall(request)
    until = time.monotonic() + random.uniform(0, 0.004)
    while time.monotonic() < until:
        pass
    conn.close()
"""


async def test_a_client_closing_before_the_lookup_is_not_taken_for_root_and_forms_are_not_json(processes: Processes,
                                                                        tls_flags: list[str]) -> None:
    processes.start_gateway("gateway", *tls_flags, "--plain-http-uid", str(OWNER))
    await processes.wait_gateway_ready()
    plain = processes.gateway_url.replace("https://", "http://")
    store = await processes.connect_store()
    status, doc = call(f"{plain}/api/v1/namespaces", "POST", {"metadata": {"name": "target"}}, uid=OWNER)
    assert status == 201, doc
    before = await revision(store)

    host, port = plain.removeprefix("http://").rsplit(":", 1)
    subprocess.run(["setpriv", f"--reuid={OTHER}", f"--regid={OTHER}", "--clear-groups", "/usr/bin/python3", "-c",
                    ATTACK, host, port, "/api/v1/namespaces/target", "300"], check=True, timeout=120)

    # before the fix most of the 300 attempts were served as kubelite:uid:0 and the namespace went
    status, doc = call(f"{plain}/api/v1/namespaces/target", uid=OWNER)
    assert status == 200 and isinstance(doc, dict) and "deletionTimestamp" not in doc["metadata"], doc  # type: ignore[operator]
    assert await revision(store) == before


    # a page elsewhere (another site, or another port of 127.0.0.1: same-site) linking or embedding a GET
    # sends no Origin, but modern browsers say Sec-Fetch-Site: refused; the dashboard and typed URLs are fine
    for site, want in (("cross-site", 403), ("same-site", 403), ("same-origin", 200), ("none", 200)):
        status, doc = call(f"{plain}/api/v1/namespaces/target", uid=OWNER, headers={"Sec-Fetch-Site": site})
        assert status == want, (site, doc)

    # a cross-site form or text/plain fetch (no CORS preflight; an old browser may send no Origin): 415
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        status, doc = call(f"{plain}/api/v1/namespaces", "POST", {"metadata": {"name": "csrf"}}, uid=OWNER,
                           headers={"Content-Type": content_type})
        assert status == 415 and isinstance(doc, dict) and doc["reason"] == "UnsupportedMediaType", doc
    assert await revision(store) == before
