"""The Redis key layouts as plain functions: Motörhead's names stay Motörhead's, and on a
cluster every key of a session hashes to one slot."""

from __future__ import annotations

import fnmatch

import pytest
from redis.crc import key_slot

from chatcli.server.redis_layout import ClusterLayout, MotorheadLayout
from chatcli.server.redis_store import cluster_url


def session_keys(layout: ClusterLayout | MotorheadLayout, sid: str) -> list[str]:
    return [
        layout.messages(sid),
        layout.context(sid),
        layout.tokens(sid),
        layout.transcript(sid),
        layout.order(sid),
        layout.window(sid),
        layout.lock(sid),
        layout.epoch(sid),
        layout.idem(sid, "some-key"),
        layout.index(sid, None),
        layout.index(sid, "ns"),
        layout.rebuild(sid),
        layout.recall_docs(sid),
        layout.recall_cursor(sid),
        layout.recall_foreign(sid),
        layout.recall_vector(sid, "01ABC"),
        layout.recall_dirty(sid),
        layout.recall_log(sid),
    ]


def shared_keys(layout: ClusterLayout | MotorheadLayout) -> set[str]:
    return {
        *layout.indexes(None),
        *layout.rebuild_sets(),
        *layout.recall_dirty_sets(),
        *layout.recall_logs(),
        layout.recall_epoch,
    }


def test_the_default_layout_is_motorheads_key_names() -> None:
    layout = MotorheadLayout()
    assert [layout.messages("a"), layout.context("a"), layout.tokens("a")] == [
        "session:a",
        "context:a",
        "tokens:a",
    ]
    assert layout.indexes(None) == ["sessions"]
    assert layout.indexes("ns") == ["sessions:ns"]


@pytest.mark.parametrize("sid", ["a", "s-0123456789", "x:y}{z", "ünï"])
def test_every_cluster_key_of_a_session_shares_one_slot(sid: str) -> None:
    slots = {key_slot(key.encode()) for key in session_keys(ClusterLayout(), sid)}
    assert len(slots) == 1


@pytest.mark.parametrize(
    "layout", [MotorheadLayout(), ClusterLayout()], ids=["motorhead", "cluster"]
)
@pytest.mark.parametrize(
    "sid", ["log", "dirty", "epoch", "cursor:a", "upto:a", "docs:a", "foreign:a"]
)
def test_no_session_id_names_a_key_shared_by_every_session(
    layout: ClusterLayout | MotorheadLayout, sid: str
) -> None:
    own = {layout.recall_docs(sid), layout.recall_cursor(sid), layout.recall_foreign(sid)}
    assert not own & shared_keys(layout)
    others = {layout.recall_docs("a"), layout.recall_cursor("a"), layout.recall_foreign("a")}
    assert not own & others


@pytest.mark.parametrize(
    "layout", [MotorheadLayout(), ClusterLayout()], ids=["motorhead", "cluster"]
)
def test_a_transcript_key_gives_back_its_session_id(
    layout: ClusterLayout | MotorheadLayout,
) -> None:
    assert layout.session_of_transcript(layout.transcript("s:1}x").encode()) == "s:1}x"


def test_a_cluster_keeps_a_change_log_and_a_dirty_set_per_bucket() -> None:
    layout = ClusterLayout()
    assert layout.recall_log("a") in layout.recall_logs()
    assert layout.recall_dirty("a") in layout.recall_dirty_sets()
    assert len(set(layout.recall_logs())) == layout.buckets


def test_a_cluster_prefix_moves_every_key() -> None:
    layout = ClusterLayout(prefix="t7")
    keys = [*session_keys(layout, "a"), *shared_keys(layout)]
    assert all(key.startswith("t7:") for key in keys)


def test_the_cluster_index_of_a_session_is_one_of_the_merged_indexes() -> None:
    layout = ClusterLayout()
    assert layout.index("a", "ns") in layout.indexes("ns")
    assert layout.rebuild("a") in layout.rebuild_sets()


def test_a_cluster_window_list_gives_back_its_session_id() -> None:
    layout = ClusterLayout()
    assert layout.session_of(layout.messages("s:1}x").encode()) == "s:1}x"


@pytest.mark.parametrize(
    ("url", "plain"),
    [
        ("redis+cluster://127.0.0.1:7000", "redis://127.0.0.1:7000"),
        ("rediss+cluster://:pw@host:7000", "rediss://:pw@host:7000"),
        ("redis://host:7000/0?cluster=true", "redis://host:7000"),
        ("redis://host:6379/0", None),
    ],
)
def test_a_cluster_is_named_by_scheme_or_query(url: str, plain: str | None) -> None:
    assert cluster_url(url) == plain


@pytest.mark.parametrize(
    "layout", [MotorheadLayout(), ClusterLayout()], ids=["motorhead", "cluster"]
)
def test_every_vector_hash_matches_the_vector_scan_pattern(
    layout: ClusterLayout | MotorheadLayout,
) -> None:
    key = layout.recall_vector("x:y}{z", "01ABC")
    assert fnmatch.fnmatchcase(key, layout.recall_vector_pattern)
