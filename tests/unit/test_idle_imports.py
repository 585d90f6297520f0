"""What each component's entry module leaves out of its imports (issue 12, target 7: idle footprint).

Each Python process of ``kl up`` is mostly its imports. Libraries that only some requests need are
imported when first used: CEL (celpy, with lark, pendulum and re2) for a CRD's
``x-kubernetes-validations``, ``cryptography.x509`` for a CSR's request, the ciphers (cryptography's
bindings, PyNaCl) for an encrypted value, croniter for a CronJob, jsonschema for a custom resource,
the Docker SDK for ``--runtime docker``. A fresh interpreter per entry module, since this test process
has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEFERRED = ("celpy", "lark", "pendulum", "re2", "cryptography", "nacl", "docker", "croniter", "dateutil",
            "jsonschema", "referencing", "rpds")
# the gateway verifies service-account tokens and client certificates: cryptography is its own
NOT_IMPORTED = {
    "controllers.__main__": (*DEFERRED, "aiohttp"),  # its status server is h11; the HPA's client imports aiohttp
    "agent.__main__": DEFERRED,
    "kubelite.gateway.__main__": tuple(m for m in DEFERRED if m != "cryptography"),
}


def _imported(entry: str) -> set[str]:
    code = f"import json, sys, {entry}; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                         check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


@pytest.mark.parametrize("entry", sorted(NOT_IMPORTED))
def test_entry_module_leaves_request_only_libraries_unimported(entry: str) -> None:
    imported = _imported(entry)
    assert "kubelite" in imported  # the probe itself worked
    assert imported.isdisjoint(NOT_IMPORTED[entry]), sorted(imported & set(NOT_IMPORTED[entry]))


def test_deferred_libraries_still_work_when_used() -> None:
    code = ("from kubelite.api import celrules; from kubelite.etcd.encryption import AesCbc, SecretBox; "
            "import sys; assert 'celpy' not in sys.modules; "
            "s = {'type': 'object', 'x-kubernetes-validations': [{'rule': 'self.a > 1'}]}; "
            "assert celrules.rule_causes(s, {'a': 2}) == []; assert len(celrules.rule_causes(s, {'a': 0})) == 1; "
            "k = AesCbc('k', b'0' * 32); assert k.decrypt(k.encrypt(b'x')) == b'x'; "
            "b = SecretBox('k', b'1' * 32); assert b.decrypt(b.encrypt(b'y')) == b'y'; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
