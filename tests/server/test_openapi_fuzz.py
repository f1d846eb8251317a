"""The OpenAPI document is true: Schemathesis, with all its checks, positive and negative
cases, sends what the document allows and what it forbids to a live server over HTTP,
on both stores, and every answer must be one the document lists, shaped as it says.

Bounded: a few examples per operation and no deadline, so a loaded machine only makes it
slower, never flaky.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from tests.server.conftest import API_KEY, Live

EXAMPLES = 12

CONFIG = """
[generation]
max-examples = {examples}
mode = "all"

# A refusal is one of the documented 4xx: 413 is the answer to too many messages (maxItems).
[checks]
negative_data_rejection.expected-statuses = ["400", "401", "404", "405", "409", "413", "431"]

# An import the document allows can still pass server.max_body_bytes, which no schema can
# say in bytes: its documented 413 is a fair answer to it.
[[operations]]
include-name = "POST /sessions/{{session_id}}/transcript"
checks.positive_data_acceptance.expected-statuses = ["200", "404", "409", "413"]

{recall}
"""
DISABLED = """
# Without long-term memory, /retrieval answers Motörhead's plain-text 400 and /search a JSON
# 400, as the document says.
[[operations]]
include-path = "/sessions/{session_id}/retrieval"
checks.positive_data_acceptance.expected-statuses = ["400"]

[[operations]]
include-path = "/search"
checks.positive_data_acceptance.expected-statuses = ["400"]
"""


def load(server: Live, recall: bool = False, **kwargs: object) -> schemathesis.BaseSchema:
    text = CONFIG.format(examples=EXAMPLES, recall="" if recall else DISABLED)
    config = SchemathesisConfig.from_str(text)
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", config=config, **kwargs)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=EXAMPLES
    )
    return schema


@pytest.fixture
def open_schema(live: Live) -> schemathesis.BaseSchema:
    """The document of a server without a key, per store."""
    return load(live)


@pytest.fixture
def keyed_schema(keyed: Live) -> schemathesis.BaseSchema:
    """The document of a server that requires API_KEY, per store."""
    return load(keyed)


@pytest.fixture
def recall_schema(recalling: Live) -> schemathesis.BaseSchema:
    """The document of a server with long-term memory, per store that has it."""
    return load(recalling, recall=True)


open_api = schemathesis.pytest.from_fixture("open_schema")
keyed_api = schemathesis.pytest.from_fixture("keyed_schema")
recall_api = schemathesis.pytest.from_fixture("recall_schema")
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)


@open_api.parametrize()
@FUZZ
def test_every_answer_of_the_open_server_is_as_documented(case: schemathesis.Case) -> None:
    case.call_and_validate(timeout=30)


@keyed_api.parametrize()
@FUZZ
def test_every_answer_of_the_keyed_server_is_as_documented(case: schemathesis.Case) -> None:
    case.call_and_validate(headers={"x-api-key": API_KEY}, timeout=30)


@recall_api.parametrize()
@FUZZ
def test_every_answer_of_a_server_with_long_term_memory_is_as_documented(
    case: schemathesis.Case,
) -> None:
    case.call_and_validate(timeout=30)
