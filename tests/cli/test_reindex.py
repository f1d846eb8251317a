"""`chatcli reindex` and the direct client's recall: the embedded file searched and indexed
without a server, through the same MemoryService the routes call."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from chatcli.cli import app
from chatcli.config import ServerSettings, Settings
from chatcli.errors import RecallDisabled
from chatcli.memory.direct import DirectClient
from tests.cli.conftest import UNSET
from tests.server.conftest import TEST_EMBEDDING


def settings_on(path: Path, long_term_memory: bool = True) -> Settings:
    server = ServerSettings(
        db=str(path), embedding=TEST_EMBEDDING, long_term_memory=long_term_memory
    )
    return Settings(server=server)


def reindex(tmp_path: Path, db: Path, **extra: str) -> object:
    env = {
        **dict.fromkeys(UNSET),
        "REDIS_URL": None,
        "MOTORHEAD_LONG_TERM_MEMORY": None,
        "CHATCLI_DATA_DIR": str(tmp_path / "data"),
        "CHATCLI_CONFIG_DIR": str(tmp_path / "config"),
        "CHATCLI_SERVER_DB": str(db),
        "CHATCLI_SERVER_EMBEDDING": TEST_EMBEDDING,
        **extra,
    }
    return CliRunner().invoke(app, ["reindex"], env=env)


def test_reindex_embeds_what_the_embedded_file_holds_and_says_how_many(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    with DirectClient(settings_on(db)) as client:
        client.append("s1", [("Human", "I adopted a puppy"), ("AI", "congratulations")])
    result = reindex(tmp_path, db)
    assert result.exit_code == 0, result.output
    assert "indexed 2 messages with wordllama" in result.stdout
    with DirectClient(settings_on(db)) as client:
        found = client.retrieve("s1", "dog")
    assert found[0].content == "I adopted a puppy"


def test_reindex_twice_indexes_nothing_the_second_time(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    with DirectClient(settings_on(db)) as client:
        client.append("s1", [("Human", "hello")])
    reindex(tmp_path, db)
    result = reindex(tmp_path, db)
    assert "indexed 0 messages" in result.stdout


def test_reindex_with_long_term_memory_off_is_a_one_line_error(tmp_path: Path) -> None:
    result = reindex(tmp_path, tmp_path / "memory.db", CHATCLI_SERVER_LONG_TERM_MEMORY="false")
    assert result.exit_code != 0
    assert result.stderr.strip().startswith("chatcli: error: long-term memory is off")


def test_the_direct_client_searches_every_session_by_keyword_before_any_indexing(
    tmp_path: Path,
) -> None:
    with DirectClient(settings_on(tmp_path / "memory.db")) as client:
        client.append("one", [("Human", "the spare key is under the mat")])
        client.append("two", [("Human", "I lost my key again")])
        hits = client.search("where is the key?", None, 10)
    assert {hit.session_id for hit in hits} == {"one", "two"}


def test_the_direct_client_refuses_retrieval_with_long_term_memory_off(tmp_path: Path) -> None:
    with (
        DirectClient(settings_on(tmp_path / "memory.db", long_term_memory=False)) as client,
        pytest.raises(RecallDisabled, match="long-term memory off"),
    ):
        client.retrieve("s1", "anything")
