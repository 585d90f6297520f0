"""Secrets encrypted at rest (kubelite/etcd/encryption.py) against a real etcd: what etcd holds is
kube's ``k8s:enc:<provider>:v1:<key>:`` ciphertext, every reader decrypts, keys rotate as Kubernetes
documents it, and identity reads what was stored before encryption was turned on."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import stat
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from kubelite.etcd import encryption
from kubelite.api import errors
from kubelite.api.resources import CONFIGMAPS, PODS, SECRETS
from kubelite.client.bootstrap import ensure_system_namespaces
from kubelite.etcd.client import EtcdClient, EtcdConfig, connect
from kubelite.etcd.ops import range_
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.gateway import Gateway
from kubelite.client.informer import Informer
from kubelite.storage.store import Store
from tests.gateway.conftest import gateway_config, stop_or_explain
from tests.helpers import wait_for

KEY1 = bytes(range(32))
KEY2 = bytes(range(32, 64))


def config(*providers: dict[str, Any]) -> encryption.EncryptionConfig:
    return encryption.parse_config({"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
                                    "resources": [{"resources": ["secrets"], "providers": list(providers)}]})


def aescbc(*keys: tuple[str, bytes]) -> dict[str, Any]:
    return {"aescbc": {"keys": [{"name": n, "secret": base64.b64encode(k).decode()} for n, k in keys]}}


def secretbox(name: str, key: bytes) -> dict[str, Any]:
    return {"secretbox": {"keys": [{"name": name, "secret": base64.b64encode(key).decode()}]}}


IDENTITY = {"identity": {}}


async def store_with(etcd: EmbeddedEtcd, enc: encryption.EncryptionConfig | None) -> tuple[Store, EtcdClient]:
    client = await connect(EtcdConfig(endpoints=(etcd.endpoint,), timeout=3.0, encryption=enc))
    store = Store(client)
    await ensure_system_namespaces(store)
    return store, client


def secret(name: str, value: str = "hunter2") -> Any:
    return SECRETS.model.model_validate({"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": name, "namespace": "default"}, "stringData": {"password": value}})


async def raw(client: EtcdClient, name: str, res: Any = SECRETS) -> bytes:
    """What ``etcdctl get`` shows for the key."""
    response = await range_(client, res.key(name, "default"), what="test read")
    assert response.kvs
    return bytes(response.kvs[0].value)


def test_aescbc_value_is_kubes_format() -> None:
    """The layout kube-apiserver reads: prefix, 16-byte IV, AES-CBC with PKCS#7 — decrypted here by hand."""
    provider = encryption.AesCbc("key1", KEY1)
    stored = provider.encrypt(b'{"kind":"Secret"}')
    assert stored.startswith(b"k8s:enc:aescbc:v1:key1:")
    body = stored[len(b"k8s:enc:aescbc:v1:key1:"):]
    decryptor = Cipher(algorithms.AES(KEY1), modes.CBC(body[:16])).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    plain = unpadder.update(decryptor.update(body[16:]) + decryptor.finalize()) + unpadder.finalize()
    assert plain == b'{"kind":"Secret"}'
    assert provider.encrypt(b"x") != provider.encrypt(b"x")  # a fresh IV each time


def test_bad_configuration_files_say_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "enc.yaml"
    cases = {
        "kind: Other\n": "not an EncryptionConfiguration",
        ("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n"
         "  providers:\n  - aescbc:\n      keys:\n      - name: k\n        secret: c2hvcnQ=\n"): "must be 16 or 24 or 32",
        ("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n"
         "  providers:\n  - kms: {name: x}\n"): "'kms' is not supported",
    }
    for text, expected in cases.items():
        path.write_text(text)
        with pytest.raises(ValueError, match=expected):
            encryption.load_config(path)


def test_kl_up_key_file_is_private_and_kept(tmp_path: Path) -> None:
    path = encryption.generated_config(tmp_path / "encryption.yaml")
    first = path.read_text()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert encryption.generated_config(path).read_text() == first  # made once: the data stays readable
    loaded = encryption.load_config(path)
    transformer = loaded.transformer("secrets", "")
    assert transformer is not None and isinstance(transformer.providers[0], encryption.AesCbc)
    assert loaded.transformer("configmaps", "") is None


@pytest.mark.parametrize("provider", [aescbc(("key1", KEY1)), secretbox("box1", KEY1)], ids=["aescbc", "secretbox"])
async def test_etcd_holds_ciphertext_and_every_reader_decrypts(etcd: EmbeddedEtcd, provider: dict[str, Any]) -> None:
    store, client = await store_with(etcd, config(provider, IDENTITY))
    informer = Informer(store, SECRETS)
    try:
        await informer.start()
        created = await store.create(SECRETS, secret("db"))
        stored = await raw(client, "db")
        name = next(iter(provider))
        assert stored.startswith(f"k8s:enc:{name}:v1:".encode())
        assert b"hunter2" not in stored and base64.b64encode(b"hunter2") not in stored and b"Secret" not in stored
        assert (await store.get(SECRETS, "db", "default")).data == {"password": base64.b64encode(b"hunter2").decode()}
        listed = await store.list(SECRETS, "default", as_documents=True)
        assert listed.items[0]["data"]["password"] == base64.b64encode(b"hunter2").decode()
        cached = await wait_for(lambda: informer.get("default/db"), timeout=10)  # list + watch decode too
        assert cached.metadata.uid == created.metadata.uid
        await store.create(CONFIGMAPS, CONFIGMAPS.model.model_validate({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "plain", "namespace": "default"},
            "data": {"a": "b"}}))
        assert (await raw(client, "plain", CONFIGMAPS)).startswith(b"{")  # only the configured resources are encrypted
    finally:
        await informer.stop()
        await client.close()


async def test_a_process_without_the_key_refuses_to_guess(etcd: EmbeddedEtcd) -> None:
    store, client = await store_with(etcd, config(aescbc(("key1", KEY1))))
    plain_store, plain_client = await store_with(etcd, None)
    wrong_store, wrong_client = await store_with(etcd, config(aescbc(("key1", KEY2))))
    try:
        await store.create(SECRETS, secret("db"))
        with pytest.raises(errors.ApiError, match="no --encryption-provider-config") as no_key:
            await plain_store.get(SECRETS, "db", "default")
        assert no_key.value.code == 500
        with pytest.raises(errors.ApiError, match="cannot decrypt") as wrong_key:
            await wrong_store.get(SECRETS, "db", "default")
        assert wrong_key.value.code == 500
    finally:
        for c in (client, plain_client, wrong_client):
            await c.close()


async def test_identity_reads_what_was_stored_before_encryption(etcd: EmbeddedEtcd) -> None:
    plain_store, plain_client = await store_with(etcd, None)
    store, client = await store_with(etcd, config(aescbc(("key1", KEY1)), IDENTITY))
    try:
        await plain_store.create(SECRETS, secret("old"))
        assert (await raw(client, "old")).startswith(b"{")
        assert (await store.get(SECRETS, "old", "default")).data["password"] == base64.b64encode(b"hunter2").decode()
    finally:
        await plain_client.close()
        await client.close()


async def test_a_bind_of_an_encrypted_pod_stays_encrypted(etcd: EmbeddedEtcd) -> None:
    """The bind writes the stored document, not a model: it decrypts what it read and encrypts what it
    writes, on the read path and on the informer-copy path alike."""
    enc = encryption.parse_config({"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
                                   "resources": [{"resources": ["pods"], "providers": [aescbc(("key1", KEY1))]}]})
    store, client = await store_with(etcd, enc)
    try:
        for name, from_cache in (("read", False), ("cached", True)):
            created = await store.create(PODS, PODS.model.model_validate({
                "metadata": {"name": name, "namespace": "default"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}))
            revision = await store.bind("default", name, "node-1", uid=created.metadata.uid,
                                        read=created if from_cache else None)
            stored = await raw(client, name, PODS)
            assert stored.startswith(b"k8s:enc:aescbc:v1:key1:") and b"node-1" not in stored
            bound = await store.get(PODS, name, "default")
            assert (bound.spec.node_name, bound.metadata.resource_version) == ("node-1", revision)
            assert bound.status is not None and bound.status.condition("PodScheduled") is not None
    finally:
        await client.close()


async def test_key_rotation_as_kubernetes_documents_it(etcd: EmbeddedEtcd) -> None:
    """key1 only → key1 first, key2 second → key2 first → rewrite every secret → key2 only."""
    async def phase(*keys: tuple[str, bytes]) -> tuple[Store, EtcdClient]:
        return await store_with(etcd, config(aescbc(*keys), IDENTITY))

    store, client = await phase(("key1", KEY1))
    await store.create(SECRETS, secret("a"))
    await store.create(SECRETS, secret("b", "other"))
    await client.close()
    store, client = await phase(("key1", KEY1), ("key2", KEY2))  # every process can read key2 first
    assert (await raw(client, "a")).startswith(b"k8s:enc:aescbc:v1:key1:")
    await client.close()
    store, client = await phase(("key2", KEY2), ("key1", KEY1))  # key2 writes
    before = await store.get(SECRETS, "a", "default")
    for name in ("a", "b"):  # kubectl get secrets -A -o json | kubectl replace -f -: unchanged objects
        current = await store.get(SECRETS, name, "default")
        await store.update(SECRETS, current)
    assert (await raw(client, "a")).startswith(b"k8s:enc:aescbc:v1:key2:")
    assert (await raw(client, "b")).startswith(b"k8s:enc:aescbc:v1:key2:")
    again = await store.update(SECRETS, await store.get(SECRETS, "a", "default"))
    assert int(again.metadata.resource_version) > int(before.metadata.resource_version)
    unchanged = await store.update(SECRETS, again)  # fresh with the first key: a no-op stays a no-op
    assert unchanged.metadata.resource_version == again.metadata.resource_version
    await client.close()
    store, client = await phase(("key2", KEY2))  # key1 removed: everything still reads
    try:
        assert (await store.get(SECRETS, "b", "default")).data["password"] == base64.b64encode(b"other").decode()
    finally:
        await client.close()


def test_config_flag_error_is_one_line(tmp_path: Path) -> None:
    import argparse

    from kubelite.etcd.flags import add_etcd_arguments, etcd_config_from_args
    parser = argparse.ArgumentParser()
    add_etcd_arguments(parser)
    missing = tmp_path / "nope.yaml"
    with pytest.raises(SystemExit, match=r"^error: --encryption-provider-config .*nope.yaml: No such file"):
        etcd_config_from_args(parser.parse_args(["--encryption-provider-config", str(missing)]))
    good = encryption.generated_config(tmp_path / "enc.yaml")
    loaded = etcd_config_from_args(parser.parse_args(["--encryption-provider-config", str(good)]))
    assert loaded.encryption is not None and "AesCbc" not in repr(loaded)  # keys never reach a log line


async def test_gateway_serves_decrypted_secrets_on_get_list_and_watch(etcd: EmbeddedEtcd) -> None:
    """The gateway's own readers (its store, its watch cache) decrypt too; etcd holds ciphertext."""
    enc = config(aescbc(("key1", KEY1)), IDENTITY)
    gw = Gateway(dataclasses.replace(gateway_config(etcd), etcd=EtcdConfig(endpoints=(etcd.endpoint,), timeout=3.0,
                                                                           encryption=enc)))
    await gw.start()
    try:
        async with aiohttp.ClientSession(base_url=gw.url, timeout=aiohttp.ClientTimeout(total=30)) as api:
            base = "/api/v1/namespaces/default/secrets"
            async with api.get(base) as response:
                start = (await response.json())["metadata"]["resourceVersion"]
            body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "stringData": {"pw": "hunter2"}}
            async with api.post(base, json=body) as response:
                assert response.status == 201
            async with api.get(f"{base}?watch=1&resourceVersion={start}") as response:
                event = json.loads(await response.content.readline())
            assert event["type"] == "ADDED" and event["object"]["data"] == {"pw": "aHVudGVyMg=="}
            async with api.get(base) as response:
                assert (await response.json())["items"][0]["data"] == {"pw": "aHVudGVyMg=="}
        assert gw.state is not None
        assert (await raw(gw.state.client, "db")).startswith(b"k8s:enc:aescbc:v1:key1:")
    finally:
        await stop_or_explain(gw)
