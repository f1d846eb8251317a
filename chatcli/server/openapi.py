"""The OpenAPI document's parts: what each route takes and every answer it can give.

The routes read their raw inputs from the request and leave the rules to validation.py,
so FastAPI would describe them as taking nothing (and answering a 422 that never
happens); these declarations describe them instead, built from validation.py's
patterns and ranges and the server's settings, so the document cannot drift from the
rules. tests/server/test_openapi_fuzz.py runs Schemathesis against it to keep it true.
"""

from __future__ import annotations

from typing import Any

from chatcli.config import ServerSettings
from chatcli.server import validation

Schema = dict[str, Any]

ERROR_SCHEMA: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}
ID_SCHEMA: Schema = {"type": "string", "pattern": validation.ID_SCHEMA_PATTERN}
"""The pattern bounds the length too (1-256)."""


def _error(description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": ERROR_SCHEMA}}}


def _ok(schema: Schema, description: str = "Success") -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


EVERY_ROUTE: dict[int | str, Schema] = {
    400: _error("Bad input, or malformed HTTP"),
    405: _error("The path does not take this method; `Allow` lists those it takes"),
    431: _error("The request line and headers pass server.max_header_bytes"),
    503: _error("The memory store is unavailable, or the server has too many connections"),
}
KEYED: dict[int | str, Schema] = {401: _error("Missing or wrong API key")}
ON_SESSION: dict[int | str, Schema] = {
    404: _error("No such route (e.g. a session id with a slash)"),
}
TOO_LARGE: dict[int | str, Schema] = {
    413: _error("The body passes server.max_body_bytes or server.max_messages_per_post"),
}

OK_SCHEMA: Schema = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"const": "Ok"}},
}
HEALTH_SCHEMA: Schema = {
    "type": "object",
    "required": ["now"],
    "properties": {"now": {"type": "integer"}},
}
SESSIONS_SCHEMA: Schema = {"type": "array", "items": {"type": "string"}}
MESSAGE_SCHEMA: Schema = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {
        "role": {
            "type": "string",
            "not": {"pattern": ": "},
            "description": 'Any text without ": " (Motörhead stores "role: content").',
            "examples": ["Human", "AI"],
        },
        "content": {"type": "string"},
    },
}
MEMORY_SCHEMA: Schema = {
    "type": "object",
    "required": ["messages", "context", "tokens"],
    "properties": {
        "messages": {"type": "array", "items": MESSAGE_SCHEMA},
        "context": {"type": ["string", "null"]},
        "tokens": {"type": "integer"},
    },
}


def _path_id() -> Schema:
    return {"name": "session_id", "in": "path", "required": True, "schema": ID_SCHEMA}


def _namespace() -> Schema:
    return {
        "name": "namespace",
        "in": "query",
        "required": False,
        "schema": ID_SCHEMA,
        "description": "The sessions index to record the session in (Motörhead's).",
    }


def _range(name: str, maximum: int, default: int) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": maximum, "default": default},
    }


def _responses(
    settings: ServerSettings, ok: Schema, *parts: dict[int | str, Schema]
) -> dict[int | str, Schema]:
    responses: dict[int | str, Schema] = {200: ok, **EVERY_ROUTE}
    for part in parts:
        responses.update(part)
    if settings.api_key:
        responses.update(KEYED)
    return responses


def health(settings: ServerSettings) -> dict[str, Any]:
    """Open to every client, key or not."""
    responses = _responses(settings, _ok(HEALTH_SCHEMA, "The server's clock in ms"))
    responses.pop(401, None)
    return {"responses": responses, "tags": MOTORHEAD, "openapi_extra": {"security": []}}


def sessions(settings: ServerSettings) -> dict[str, Any]:
    return {
        "tags": MOTORHEAD,
        "responses": _responses(settings, _ok(SESSIONS_SCHEMA)),
        "openapi_extra": {
            "parameters": [
                _range("page", validation.MAX_PAGE, 1),
                _range("size", validation.MAX_SIZE, 10),
                _namespace(),
            ]
        },
    }


def get_memory(settings: ServerSettings) -> dict[str, Any]:
    return {
        "tags": MOTORHEAD,
        "responses": _responses(settings, _ok(MEMORY_SCHEMA), ON_SESSION),
        "openapi_extra": {"parameters": [_path_id()]},
    }


def delete_memory(settings: ServerSettings) -> dict[str, Any]:
    return {
        "tags": MOTORHEAD,
        "responses": _responses(settings, _ok(OK_SCHEMA), ON_SESSION),
        "openapi_extra": {"parameters": [_path_id(), _namespace()]},
    }


def post_memory(settings: ServerSettings) -> dict[str, Any]:
    body: Schema = {
        "type": "object",
        "required": ["messages"],
        "properties": {
            "messages": {
                "type": "array",
                "items": MESSAGE_SCHEMA,
                "maxItems": settings.max_messages_per_post,
            },
            "context": {"type": ["string", "null"], "description": "Replaces the summary."},
        },
    }
    conflict = _error(
        "The Idempotency-Key was already used with another session or body "
        f"(within server.idempotency_ttl, {settings.idempotency_ttl:g} s)"
    )
    ok = _ok(
        OK_SCHEMA,
        "Appended; or, for a repeated Idempotency-Key, appended by the first request "
        "(then `Idempotent-Replayed: true`)",
    )
    return {
        "tags": MOTORHEAD,
        "responses": _responses(settings, ok, ON_SESSION, TOO_LARGE, {409: conflict}),
        "openapi_extra": {
            "parameters": [
                _path_id(),
                _namespace(),
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": (
                        "Makes a retry safe: the same key again appends nothing and answers "
                        "as the first request did."
                    ),
                    "schema": {
                        "type": "string",
                        "pattern": validation.IDEMPOTENCY_KEY_SCHEMA_PATTERN,
                    },
                },
            ],
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        },
    }


DIST_SCHEMA: Schema = {
    "type": "number",
    "minimum": 0,
    "maximum": 1,
    "description": "Smaller is nearer, as in Motörhead: 0 for a message first in both the "
    "keyword (BM25) and the dense (cosine) ranking, growing down their reciprocal-rank fusion.",
}
RETRIEVED_SCHEMA: Schema = {
    "type": "array",
    "maxItems": 10,
    "items": {
        "type": "object",
        "required": ["role", "content", "dist"],
        "properties": {
            "role": {"type": "string"},
            "content": {"type": "string"},
            "dist": DIST_SCHEMA,
        },
    },
}
TEXT_BODY: Schema = {
    "type": "object",
    "required": ["text"],
    "properties": {"text": {"type": "string", "description": "What to look for."}},
}


def retrieval(settings: ServerSettings) -> dict[str, Any]:
    responses = _responses(
        settings,
        _ok(
            RETRIEVED_SCHEMA,
            "The session's messages nearest `text` (its whole transcript, the window too), "
            "nearest first, at most 10",
        ),
        ON_SESSION,
        TOO_LARGE,
    )
    responses[400] = {
        "description": "`Long term memory is disabled` (Motörhead's plain text) when it is "
        "off; JSON for a bad session id or body",
        "content": {
            "text/plain": {"schema": {"type": "string"}},
            "application/json": {"schema": ERROR_SCHEMA},
        },
    }
    return {
        "tags": MOTORHEAD,
        "responses": responses,
        "openapi_extra": {
            "parameters": [_path_id()],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": TEXT_BODY}},
            },
        },
    }


def security_schemes(app_openapi: dict[str, Any]) -> None:
    """Declares the two ways to send the key (x-api-key, or Authorization: Bearer),
    either one enough, for every operation that does not say otherwise."""
    components = app_openapi.setdefault("components", {})
    components["securitySchemes"] = {
        "ApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
        "Bearer": {"type": "http", "scheme": "bearer"},
    }
    app_openapi["security"] = [{"ApiKey": []}, {"Bearer": []}]


MOTORHEAD = ["Motörhead API"]
EXTENSIONS = ["chatcli extensions"]
"""Routes Motörhead does not have: the transcript under the window, and its messages."""

MESSAGE_ID_SCHEMA: Schema = {"type": "string", "pattern": validation.MESSAGE_ID_SCHEMA_PATTERN}
ENTRY_SCHEMA: Schema = {
    "type": "object",
    "required": ["id", "role", "content", "created_at", "summarized"],
    "properties": {
        "id": {
            **MESSAGE_ID_SCHEMA,
            "description": "Unique within the session; generated ids are 16 lower-case base32 "
            "characters (10 of unix ms, 6 of the place in the session) and increase in "
            "posting order. Kept by fork, import and export.",
            "examples": ["01j0z3k5qw000001"],
        },
        "role": {"type": "string"},
        "content": {"type": "string"},
        "created_at": {"type": "integer", "description": "Unix time in milliseconds."},
        "summarized": {
            "type": "boolean",
            "description": "It left the window: the summary (`context`) covers it.",
        },
    },
}
PAGE_SCHEMA: Schema = {
    "type": "object",
    "required": ["messages", "next", "namespace"],
    "properties": {
        "messages": {"type": "array", "items": ENTRY_SCHEMA},
        "next": {
            "type": ["string", "null"],
            "description": "Pass as `after` for the next page; null at the end.",
        },
        "namespace": {"type": ["string", "null"]},
    },
}
NO_MESSAGE: dict[int | str, Schema] = {
    404: _error("No such message in this session (or no such route)"),
}


def _path_message_id() -> Schema:
    return {"name": "message_id", "in": "path", "required": True, "schema": MESSAGE_ID_SCHEMA}


def _json_body(schema: Schema) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _extension(
    settings: ServerSettings,
    ok: Schema,
    parts: tuple[dict[int | str, Schema], ...],
    parameters: list[Schema],
    body: Schema | None = None,
) -> dict[str, Any]:
    """One chatcli extension route's declaration: its answers, parameters and body."""
    extra: dict[str, Any] = {"parameters": parameters}
    if body is not None:
        extra["requestBody"] = _json_body(body)
    return {
        "responses": _responses(settings, ok, *parts),
        "tags": EXTENSIONS,
        "openapi_extra": extra,
    }


def transcript(settings: ServerSettings) -> dict[str, Any]:
    return _extension(
        settings,
        _ok(PAGE_SCHEMA),
        (ON_SESSION,),
        [
            _path_id(),
            {
                "name": "after",
                "in": "query",
                "required": False,
                "description": "The `next` of the previous page.",
                "schema": {"type": "string", "pattern": validation.CURSOR_SCHEMA_PATTERN},
            },
            _range("limit", validation.MAX_TRANSCRIPT_PAGE, validation.DEFAULT_TRANSCRIPT_PAGE),
        ],
    )


def import_transcript(settings: ServerSettings) -> dict[str, Any]:
    entry = {
        **ENTRY_SCHEMA,
        "required": ["id", "role", "content", "created_at"],
        "properties": {
            **ENTRY_SCHEMA["properties"],
            "role": MESSAGE_SCHEMA["properties"]["role"],
            "created_at": {
                "type": "integer",
                "minimum": 0,
                "maximum": 2**53 - 1,
                "description": "Unix time in milliseconds.",
            },
            "summarized": {
                "type": "boolean",
                "default": False,
                "description": "True keeps it out of the window (the summary covers it).",
            },
        },
    }
    body: Schema = {
        "type": "object",
        "required": ["messages"],
        "properties": {
            "messages": {
                "type": "array",
                "items": entry,
                "maxItems": settings.max_messages_per_post,
                "description": "Ids the session holds, or repeated in the body, are skipped.",
            },
            "context": {"type": ["string", "null"], "description": "Replaces the summary."},
            "tokens": {
                "type": ["integer", "null"],
                "minimum": 0,
                "maximum": 2**53 - 1,
                "description": "Replaces the token count.",
            },
        },
    }
    added: Schema = {
        "type": "object",
        "required": ["status", "added", "skipped"],
        "properties": {
            "status": {"const": "Ok"},
            "added": {"type": "integer"},
            "skipped": {"type": "integer"},
        },
    }
    return _extension(
        settings, _ok(added), (ON_SESSION, TOO_LARGE), [_path_id(), _namespace()], body
    )


def get_message(settings: ServerSettings) -> dict[str, Any]:
    return _extension(settings, _ok(ENTRY_SCHEMA), (NO_MESSAGE,), [_path_id(), _path_message_id()])


def edit_message(settings: ServerSettings) -> dict[str, Any]:
    body: Schema = {
        "type": "object",
        "required": ["content"],
        "properties": {
            "content": {
                "type": "string",
                "pattern": r"\S",
                "description": "Not blank: to remove a message, DELETE it.",
            }
        },
    }
    return _extension(
        settings,
        _ok(ENTRY_SCHEMA),
        (NO_MESSAGE, TOO_LARGE),
        [_path_id(), _path_message_id()],
        body,
    )


def delete_message(settings: ServerSettings) -> dict[str, Any]:
    return _extension(settings, _ok(OK_SCHEMA), (NO_MESSAGE,), [_path_id(), _path_message_id()])


def fork(settings: ServerSettings) -> dict[str, Any]:
    body: Schema = {
        "type": "object",
        "required": ["to"],
        "properties": {
            "to": {**ID_SCHEMA, "description": "The new session id: another, holding no data."},
            "at": {
                "anyOf": [MESSAGE_ID_SCHEMA, {"type": "null"}],
                "description": "The last message id to copy (inclusive); null copies everything.",
            },
        },
    }
    forked: Schema = {
        "type": "object",
        "required": ["status", "session", "messages"],
        "properties": {
            "status": {"const": "Ok"},
            "session": {"type": "string"},
            "messages": {"type": "integer"},
        },
    }
    conflict = _error("`to` already has data, or is the session forked: fork into a new id")
    return _extension(
        settings,
        _ok(forked),
        (NO_MESSAGE, TOO_LARGE, {409: conflict}),
        [_path_id(), _namespace()],
        body,
    )


def search(settings: ServerSettings) -> dict[str, Any]:
    body: Schema = {
        "type": "object",
        "required": ["text"],
        "properties": {
            **TEXT_BODY["properties"],
            "session_id": {
                "anyOf": [ID_SCHEMA, {"type": "null"}],
                "description": "The session to search; null or absent searches every session.",
            },
            "limit": {
                "type": "integer",
                "minimum": 1,
                "maximum": validation.MAX_SEARCH_LIMIT,
                "default": validation.DEFAULT_SEARCH_LIMIT,
            },
        },
    }
    hit: Schema = {
        "type": "object",
        "required": ["session_id", "id", "role", "content", "time", "dist"],
        "properties": {
            "session_id": {"type": "string"},
            "id": {**MESSAGE_ID_SCHEMA, "description": "The transcript message's id."},
            "role": {"type": "string"},
            "content": {"type": "string"},
            "time": {"type": "integer", "description": "Unix time in milliseconds."},
            "dist": DIST_SCHEMA,
        },
    }
    found: Schema = {
        "type": "object",
        "required": ["results"],
        "properties": {
            "results": {
                "type": "array",
                "items": hit,
                "maxItems": validation.MAX_SEARCH_LIMIT,
                "description": "Nearest first, as /retrieval ranks them.",
            }
        },
    }
    declared = _extension(settings, _ok(found), (TOO_LARGE,), [], body)
    declared["responses"][400] = _error(
        "Bad input, malformed HTTP, or long-term memory is disabled"
    )
    return declared
