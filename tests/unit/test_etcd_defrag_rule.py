"""The defragmentation rule (kubelite.etcd.defrag), pure: when a member is worth a defragment, and in what order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kubelite.etcd.defrag import MIB, DefragPolicy, MemberStatus, defrag_order, should_defragment

POLICY = DefragPolicy(min_free_fraction=0.5, min_free_bytes=64 * MIB)


def test_both_thresholds_must_be_exceeded() -> None:
    assert should_defragment(200 * MIB, 50 * MIB, POLICY)  # 150 MiB free, 75 %
    assert not should_defragment(200 * MIB, 150 * MIB, POLICY)  # 50 MiB free: under the floor and under half
    assert not should_defragment(100 * MIB, 40 * MIB, POLICY)  # 60 % free but only 60 MiB
    assert not should_defragment(1000 * MIB, 600 * MIB, POLICY)  # 400 MiB free but only 40 %
    assert should_defragment(128 * MIB, 64 * MIB, POLICY)  # exactly at both thresholds
    assert not should_defragment(0, 0, POLICY)  # no size reported
    assert not should_defragment(200 * MIB, 50 * MIB, DefragPolicy(enabled=False))


@given(size=st.integers(0, 1 << 40), in_use=st.integers(0, 1 << 40), fraction=st.floats(0.0, 1.0),
       floor=st.integers(0, 1 << 32))
def test_a_defragment_always_wins_at_least_both_thresholds(size: int, in_use: int, fraction: float, floor: int) -> None:
    policy = DefragPolicy(min_free_fraction=fraction, min_free_bytes=floor)
    if should_defragment(size, in_use, policy):
        assert size > 0 and size - in_use >= floor and size - in_use >= fraction * size


def status(endpoint: str, member: int, leader: int, size: int, in_use: int) -> MemberStatus:
    return MemberStatus(endpoint=endpoint, member_id=member, leader=leader, db_size=size, db_size_in_use=in_use)


def test_followers_first_the_leader_last_and_only_members_over_the_thresholds() -> None:
    members = [status("a", 1, 1, 300 * MIB, 10 * MIB), status("b", 2, 1, 300 * MIB, 290 * MIB),
               status("c", 3, 1, 300 * MIB, 20 * MIB)]
    assert [s.endpoint for s in defrag_order(members, POLICY)] == ["c", "a"]
    assert members[0].is_leader and members[0].free_bytes == 290 * MIB
