"""Defragmentation after compaction against a real etcd: the compactor that won its round shrinks the
database file once compaction freed most of it (kubelite.etcd.defrag)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from kubelite.etcd.client import EtcdClient
from kubelite.etcd.compaction import Compactor
from kubelite.etcd.defrag import MIB, DefragPolicy, MemberStatus, member_status
from kubelite.testing.waiting import wait_for

VALUE = b"x" * (256 * 1024)


async def test_compaction_then_defragmentation_shrinks_the_database_file(etcd_client: EtcdClient) -> None:
    # 16 keys overwritten 6 times: 24 MiB written, of which one version per key stays live
    for round_ in range(6):
        for i in range(16):
            await etcd_client.put(f"/defrag-test/{i}".encode(), VALUE + bytes([round_]))
    async def grown() -> MemberStatus | None:  # etcd commits its write batch to the db file every 100 ms, not per put
        status = await member_status(etcd_client)
        return status if status.db_size > 10 * MIB else None
    before = await wait_for(grown, timeout=10, interval=0.05, message="the db file to hold the writes")
    assert before is not None
    registry = CollectorRegistry()
    compactor = Compactor(etcd_client, interval=0, registry=registry,  # rounds run by hand below
                          defrag=DefragPolicy(min_free_fraction=0.5, min_free_bytes=8 * MIB))
    first = await compactor.run_once()  # claims, records the revision after the writes
    assert first is not None and first.claimed and first.compacted == 0
    assert compactor.defragmentations == 0  # nothing freed yet: the rule says no

    async def defragmented() -> bool:
        await compactor.run_once()  # compacts to that revision (etcd frees the pages in the background) ...
        return compactor.defragmentations > 0  # ... and a later round sees them free and defragments

    await wait_for(defragmented, timeout=60, interval=0.2)
    after = await member_status(etcd_client)
    assert after.db_size < before.db_size / 2, (before, after)
    assert after.db_size - after.db_size_in_use < 8 * MIB
    assert registry.get_sample_value("kubelite_etcd_defragmentations_total") == compactor.defragmentations
    assert registry.get_sample_value("kubelite_etcd_db_size_bytes", {"member": before.endpoint}) is not None
    for i in range(16):  # the live version of every key is intact
        got = await etcd_client.get(f"/defrag-test/{i}".encode())
        assert got is not None and got.value == VALUE + bytes([5])
    await etcd_client.delete_prefix(b"/defrag-test/")
