"""``--encryption-provider-config-automatic-reload`` (kubelite/etcd/encryption_reload.py) with a real etcd and
gateway: a key added to the file is used by the next writes while what the old key wrote still reads;
a bad file leaves the configuration in force, with one error line; kube's reload metrics count both."""

from __future__ import annotations

import argparse
import base64
import dataclasses
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from kubelite.etcd.encryption import EncryptionConfig
from kubelite.etcd.encryption_reload import FAILURE, SUCCESS, ReloadingEncryption, identity_hash
from kubelite.etcd.client import EtcdConfig
from kubelite.etcd.flags import add_etcd_arguments, etcd_config_from_args
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.gateway import Gateway
from tests.gateway.conftest import gateway_config, stop_or_explain
from tests.helpers import wait_for
from tests.integration.test_encryption import KEY1, KEY2, raw

SECRETS_URL = "/api/v1/namespaces/default/secrets"


def write_config(path: Path, *keys: tuple[str, bytes]) -> None:
    path.write_text(yaml.safe_dump({
        "apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
        "resources": [{"resources": ["secrets"], "providers": [
            {"aescbc": {"keys": [{"name": n, "secret": base64.b64encode(k).decode()} for n, k in keys]}},
            {"identity": {}}]}]}))


def test_check_reports_changes_once_and_ignores_rewrites(tmp_path: Path) -> None:
    path = tmp_path / "encryption.yaml"
    write_config(path, ("key1", KEY1))
    reloader = ReloadingEncryption.load(path, identity="gw-1")
    first = reloader.current
    write_config(path, ("key1", KEY1))  # the same content again (a touch, a rewrite): nothing happens
    assert reloader.check() is None and reloader.current is first
    path.write_text("resources: [")  # not YAML
    assert reloader.check() == FAILURE and reloader.current is first
    assert reloader.check() is None  # the same bad content: reported once
    path.unlink()
    assert reloader.check() == FAILURE and reloader.current is first
    write_config(path, ("key1", KEY1))  # back to the file in force
    assert reloader.check() is None and reloader.reloads == {SUCCESS: 0, FAILURE: 2}
    write_config(path, ("key2", KEY2), ("key1", KEY1))
    assert reloader.check() == SUCCESS and reloader.current is not first
    transformer = reloader.transformer("secrets", "")
    assert transformer is not None and transformer.to_storage(b"{}").startswith(b"k8s:enc:aescbc:v1:key2:")
    assert identity_hash("gw-1").startswith("sha256:") and identity_hash("") == ""


def test_the_flag_turns_following_on(tmp_path: Path) -> None:
    path = tmp_path / "encryption.yaml"
    write_config(path, ("key1", KEY1))
    parser = argparse.ArgumentParser()
    add_etcd_arguments(parser)
    flags = ["--encryption-provider-config", str(path)]
    assert isinstance(etcd_config_from_args(parser.parse_args(flags)).encryption, EncryptionConfig)
    followed = etcd_config_from_args(parser.parse_args([*flags, "--encryption-provider-config-automatic-reload"]))
    assert isinstance(followed.encryption, ReloadingEncryption) and followed.encryption.path == path
    path.write_text("kind: Nothing")  # at start a bad file is still the user's mistake: one line, exit
    with pytest.raises(SystemExit, match="--encryption-provider-config .*not an EncryptionConfiguration"):
        etcd_config_from_args(parser.parse_args([*flags, "--encryption-provider-config-automatic-reload"]))


async def _post(api: aiohttp.ClientSession, name: str) -> None:
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {"password": name}}
    async with api.post(SECRETS_URL, json=body) as response:
        assert response.status == 201, await response.text()


async def _password(api: aiohttp.ClientSession, name: str) -> str:
    async with api.get(f"{SECRETS_URL}/{name}") as response:
        assert response.status == 200, await response.text()
        doc: dict[str, Any] = await response.json()
    return base64.b64decode(doc["data"]["password"]).decode()


async def _metrics(api: aiohttp.ClientSession) -> dict[str, float]:
    async with api.get("/metrics") as response:
        text = await response.text()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith("apiserver_encryption_config_controller_")}


async def test_gateway_follows_the_file_and_keeps_the_old_config_on_a_bad_one(
        etcd: EmbeddedEtcd, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "encryption.yaml"
    write_config(path, ("key1", KEY1))
    reloader = ReloadingEncryption.load(path, interval=0.1, identity="gateway-under-test")
    gateway = Gateway(dataclasses.replace(gateway_config(etcd), etcd=EtcdConfig(
        endpoints=(etcd.endpoint,), timeout=3.0, encryption=reloader)))
    await gateway.start()
    assert gateway.state is not None
    client = gateway.state.client
    ident = identity_hash("gateway-under-test")
    try:
        async with aiohttp.ClientSession(base_url=gateway.url, timeout=aiohttp.ClientTimeout(total=30)) as api:
            await _post(api, "before")
            assert (await raw(client, "before")).startswith(b"k8s:enc:aescbc:v1:key1:")

            # rotation, step 1 of kube's recipe: the new key first, the old one still listed
            write_config(path, ("key2", KEY2), ("key1", KEY1))
            success = f'apiserver_encryption_config_controller_automatic_reloads_total{{apiserver_id_hash="{ident}",status="success"}}'

            async def reloaded() -> bool:
                return (await _metrics(api)).get(success) == 1.0
            await wait_for(reloaded, 15, message="the reload counted on /metrics")
            await _post(api, "after")
            assert (await raw(client, "after")).startswith(b"k8s:enc:aescbc:v1:key2:")
            assert await _password(api, "before") == "before" and await _password(api, "after") == "after"

            # a bad file (a 5-byte key): refused, one error line, the configuration in force stays
            caplog.set_level(logging.ERROR, logger="kubelite.etcd.encryption_reload")
            path.write_text(path.read_text().replace(base64.b64encode(KEY2).decode(),
                                                     base64.b64encode(b"short").decode()))
            failure = success.replace('status="success"', 'status="failure"')

            async def refused() -> bool:
                return (await _metrics(api)).get(failure) == 1.0
            await wait_for(refused, 15, message="the refused reload counted on /metrics")
            await _post(api, "later")
            assert (await raw(client, "later")).startswith(b"k8s:enc:aescbc:v1:key2:")
            assert [await _password(api, n) for n in ("before", "after", "later")] == ["before", "after", "later"]
            errors = [r.getMessage() for r in caplog.records if r.name == "kubelite.etcd.encryption_reload"]
            assert len(errors) == 1 and str(path) in errors[0] and "keeping the previous configuration" in errors[0] \
                and "5 bytes" in errors[0], errors

            metrics = await _metrics(api)
            assert metrics[f'apiserver_encryption_config_controller_automatic_reload_success_total{{apiserver_id_hash="{ident}"}}'] == 1.0
            assert metrics[f'apiserver_encryption_config_controller_automatic_reload_failures_total{{apiserver_id_hash="{ident}"}}'] == 1.0
            stamp = 'apiserver_encryption_config_controller_automatic_reload_last_timestamp_seconds'
            assert metrics[f'{stamp}{{apiserver_id_hash="{ident}",status="failure"}}'] >= \
                metrics[f'{stamp}{{apiserver_id_hash="{ident}",status="success"}}'] > 0
    finally:
        await stop_or_explain(gateway)
    assert reloader._task.running is False  # noqa: SLF001 - the last client closed: polling stopped
