"""What the OpenAPI document says, read from a live server: the rules it states come from
validation.py, and it lists every answer a route gives and none it never gives."""

from __future__ import annotations

from typing import Any

from chatcli.server import validation
from tests.server.conftest import Live


def operations(server: Live) -> dict[str, dict[str, Any]]:
    document = server.client.get("/openapi.json").json()
    return {
        f"{method.upper()} {path}": operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }


def parameter(operation: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [p for p in operation["parameters"] if p["name"] == name]
    return found["schema"]


def test_no_operation_lists_a_422(live: Live) -> None:
    assert all("422" not in op["responses"] for op in operations(live).values())


def test_session_ids_and_namespaces_carry_the_validation_pattern(live: Live) -> None:
    post = operations(live)["POST /sessions/{session_id}/memory"]
    assert parameter(post, "session_id")["pattern"] == validation.ID_SCHEMA_PATTERN
    assert parameter(post, "namespace")["pattern"] == validation.ID_SCHEMA_PATTERN


def test_page_and_size_carry_their_ranges(live: Live) -> None:
    listing = operations(live)["GET /sessions"]
    page, size = parameter(listing, "page"), parameter(listing, "size")
    assert (page["minimum"], page["maximum"]) == (1, validation.MAX_PAGE)
    assert (size["minimum"], size["maximum"]) == (1, validation.MAX_SIZE)


def test_retrieval_documents_its_plain_text_400(live: Live) -> None:
    retrieval = operations(live)["POST /sessions/{session_id}/retrieval"]
    assert "text/plain" in retrieval["responses"]["400"]["content"]


def test_a_post_documents_its_refusals(live: Live) -> None:
    post = operations(live)["POST /sessions/{session_id}/memory"]
    assert {"400", "404", "405", "409", "413", "431", "503"} <= set(post["responses"])


def test_the_keyed_server_documents_a_401_everywhere_but_the_health_check(keyed: Live) -> None:
    found = operations(keyed)
    assert "401" not in found["GET /"]["responses"]
    assert all("401" in op["responses"] for name, op in found.items() if name != "GET /")


def test_the_open_server_documents_no_401(live: Live) -> None:
    assert all("401" not in op["responses"] for op in operations(live).values())
