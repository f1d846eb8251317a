"""The server's input rules, in one place, as plain functions that raise `BadInput`.

Every request is checked completely before the store is touched, so a bad request
writes nothing. The rules exist so that whatever a client sends either round-trips
exactly on both stores or is refused with a 4xx that names the problem:

- session ids and namespaces: ASCII letters and digits plus `-_.:@`, starting with a
  letter or digit, 1 to 256 characters (no slashes, spaces, unicode, `..`-only ids);
- roles: any string without `": "` (Motörhead's Redis layout stores `"Role: content"`
  and splits on the first `": "`, so such a role could not come back as it was sent);
- content and context: any unicode string, within the body size limit.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chatcli.server.errors import BadInput
from chatcli.server.store import Message, NewEntry

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-_.:@]{0,255}")
MAX_PAGE = 100
"""Motörhead refuses pages above 100; so do we."""
MAX_SIZE = 1000
"""A page of sessions is at most this long, so one request cannot ask for the whole index."""
ID_SCHEMA_PATTERN = f"^{ID_PATTERN.pattern}$"
"""ID_PATTERN for the OpenAPI document, whose patterns match anywhere unless anchored."""
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[!-~](?:[ -~]{0,253}[!-~])?")
"""1-255 printable ASCII characters; HTTP strips a header value's outer spaces, so a key
neither starts nor ends with one."""
IDEMPOTENCY_KEY_SCHEMA_PATTERN = f"^{IDEMPOTENCY_KEY_PATTERN.pattern}$"


MESSAGE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-_.:@]{0,63}")
"""Generated ids are 16 base32 characters; imported ones may be any such string."""
MESSAGE_ID_SCHEMA_PATTERN = f"^{MESSAGE_ID_PATTERN.pattern}$"
CURSOR_PATTERN = re.compile(r"[0-9]{1,18}")
"""A transcript page's `next`: the place of the last message it holds."""
CURSOR_SCHEMA_PATTERN = f"^{CURSOR_PATTERN.pattern}$"
MAX_TRANSCRIPT_PAGE = 1000
DEFAULT_TRANSCRIPT_PAGE = 100
MAX_SEARCH_LIMIT = 100
DEFAULT_SEARCH_LIMIT = 10


@dataclass(frozen=True)
class ForkBody:
    to: str
    at: str | None


@dataclass(frozen=True)
class ImportBody:
    entries: list[NewEntry]
    """Each id once, the first of any repeated in the body."""
    given: int
    """Messages in the body, repeats included: those not added count as skipped."""
    context: str | None
    tokens: int | None


@dataclass(frozen=True)
class SearchBody:
    text: str
    session_id: str | None
    """None searches every session."""
    limit: int


@dataclass(frozen=True)
class PostBody:
    messages: list[Message]
    context: str | None


ID_RULE = "use 1-256 ASCII letters, digits or -_.:@, starting with a letter or digit"
"""What ID_PATTERN allows, in words, for every message that refuses an id."""


def id_problem(kind: str, value: str, shown: str) -> str | None:
    """Why `value` is no valid `kind` ("session id", "namespace"), or None when it is; `shown`
    is how the message quotes it. The one wording of the id rule, for the server and the CLI."""
    if ID_PATTERN.fullmatch(value):
        return None
    return f"invalid {kind} {shown}: {ID_RULE}"


def session_id(value: str) -> str:
    problem = id_problem("session id", value, _shown(value))
    if problem is not None:
        raise BadInput(problem)
    return value


def namespace(value: str | None) -> str | None:
    if value is None:
        return None
    problem = id_problem("namespace", value, _shown(value))
    if problem is not None:
        raise BadInput(problem)
    return value


def idempotency_key(value: str | None) -> str | None:
    """The `Idempotency-Key` header's value, or None when the client sent none."""
    if value is None:
        return None
    if not IDEMPOTENCY_KEY_PATTERN.fullmatch(value):
        raise BadInput(
            f"invalid Idempotency-Key {_shown(value)}: use 1-255 printable ASCII characters"
        )
    return value


def post_digest(namespace: str | None, post: PostBody) -> str:
    """What a retry must repeat to count as the same POST: the namespace and the body's
    meaning (not its bytes, so a client may re-encode it). The session id is kept apart,
    so a mismatch can say which of the two changed."""
    canonical = json.dumps(
        [namespace, [[m.role, m.content] for m in post.messages], post.context],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def page_and_size(page: str | None, size: str | None) -> tuple[int, int]:
    """Motörhead's defaults (page 1, size 10); page 1..100, size 1..MAX_SIZE."""
    page_n = _integer("page", page, 1)
    size_n = _integer("size", size, 10)
    if page_n < 1:
        raise BadInput(f"page must be at least 1, got {page_n}")
    if page_n > MAX_PAGE:
        raise BadInput(f"page must be at most {MAX_PAGE}, got {page_n}")
    if size_n < 1:
        raise BadInput(f"size must be at least 1, got {size_n}")
    if size_n > MAX_SIZE:
        raise BadInput(f"size must be at most {MAX_SIZE}, got {size_n}")
    return page_n, size_n


def _integer(name: str, value: str | None, default: int) -> int:
    if value is None:
        return default
    text = value.strip()
    if not re.fullmatch(r"[+-]?[0-9]{1,18}", text):
        raise BadInput(f"{name} must be an integer, got {_shown(value)}")
    return int(text)


class _TooManyObjects(Exception):
    pass


def json_body(raw: bytes, max_objects: int | None = None) -> Any:
    """The parsed body; with `max_objects`, parsing stops at the first object past it, so a
    body of a hundred thousand tiny objects costs no more than one of `max_objects`."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput("malformed JSON: the body is not UTF-8") from None
    hook = None if max_objects is None else _object_counter(max_objects)
    try:
        return json.loads(text, object_hook=hook)
    except _TooManyObjects:
        raise BadInput(f"too many objects: the body has more than {max_objects}", 413) from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise BadInput(f"malformed JSON: {exc.msg} at {where}") from None
    except RecursionError:
        raise BadInput("malformed JSON: nested too deeply") from None


def _object_counter(limit: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    seen = 0

    def count(obj: dict[str, Any]) -> dict[str, Any]:
        nonlocal seen
        seen += 1
        if seen > limit:
            raise _TooManyObjects
        return obj

    return count


def post_body(raw: bytes, max_messages: int | None = None) -> PostBody:
    """`{"messages": [{"role": str, "content": str}, ...], "context": str | null}`; other keys
    are ignored, as Motörhead ignores them. `max_messages` bounds the work one request makes
    the server do (validating, then storing each message) while other requests wait."""
    try:
        # the messages and the body itself; other keys' objects count too, as Motörhead
        # clients send none
        data = json_body(raw, None if max_messages is None else max_messages + 1)
    except BadInput as exc:
        if exc.status != 413:
            raise
        raise _too_many_messages(f"more than {max_messages}", max_messages) from None
    if not isinstance(data, dict):
        raise BadInput(f"the body must be a JSON object, got {_json_type(data)}")
    if "messages" not in data:
        raise BadInput('the body must have a "messages" list')
    items = data["messages"]
    if not isinstance(items, list):
        raise BadInput(f'"messages" must be a list, got {_json_type(items)}')
    if max_messages is not None and len(items) > max_messages:
        raise _too_many_messages(str(len(items)), max_messages)
    messages = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadInput(f"messages[{index}] must be an object, got {_json_type(item)}")
        for key in ("role", "content"):
            if key not in item:
                raise BadInput(f'messages[{index}] must have a "{key}" string')
            if not isinstance(item[key], str):
                raise BadInput(
                    f"messages[{index}].{key} must be a string, got {_json_type(item[key])}"
                )
            _storable(f"messages[{index}].{key}", item[key])
        if ": " in item["role"]:
            raise BadInput(f'messages[{index}].role must not contain ": "')
        messages.append(Message(item["role"], item["content"]))
    context = data.get("context")
    if context is not None and not isinstance(context, str):
        raise BadInput(f'"context" must be a string or null, got {_json_type(context)}')
    if context is not None:
        _storable('"context"', context)
    return PostBody(messages, context)


def _too_many_messages(count: str, cap: int) -> BadInput:
    return BadInput(
        f"too many messages: {count} in one POST, the server takes at most {cap} "
        "(server.max_messages_per_post); send them in several POSTs",
        413,
    )


def _storable(name: str, text: str) -> None:
    """JSON may escape a lone surrogate (\\ud800) that no UTF-8 store can hold, nor any
    client read back; refuse it here rather than fail in the store."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInput(f"{name} is not valid Unicode text (a lone surrogate escape)") from None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _shown(value: str) -> str:
    """The offending value, quoted and cut short, so an error line stays one line."""
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + '..."'


def message_id(value: str) -> str:
    if not MESSAGE_ID_PATTERN.fullmatch(value):
        raise BadInput(
            f"invalid message id {_shown(value)}: use 1-64 ASCII letters, digits or -_.:@, "
            "starting with a letter or digit"
        )
    return value


def transcript_page(after: str | None, limit: str | None) -> tuple[int, int]:
    """The cursor (0 = from the start) and the page size (1..MAX_TRANSCRIPT_PAGE)."""
    cursor = 0
    if after is not None:
        if not CURSOR_PATTERN.fullmatch(after):
            raise BadInput(f'invalid cursor {_shown(after)}: pass the "next" of a previous page')
        cursor = int(after)
    size = _integer("limit", limit, DEFAULT_TRANSCRIPT_PAGE)
    if not 1 <= size <= MAX_TRANSCRIPT_PAGE:
        raise BadInput(f"limit must be from 1 to {MAX_TRANSCRIPT_PAGE}, got {size}")
    return cursor, size


def edit_body(raw: bytes) -> str:
    """`{"content": "..."}`, not empty: to remove a message, delete it."""
    data = _object(raw)
    content = data.get("content")
    if not isinstance(content, str):
        raise BadInput(f'the body must have a "content" string, got {_json_type(content)}')
    if not content.strip():
        raise BadInput('"content" must not be empty: to remove a message, DELETE it')
    _storable('"content"', content)
    return content


def fork_body(raw: bytes, source: str) -> ForkBody:
    """`{"to": "NEW_ID", "at": "MESSAGE_ID" | null}`."""
    data = _object(raw)
    to = data.get("to")
    if not isinstance(to, str):
        raise BadInput(f'the body must have a "to" session id string, got {_json_type(to)}')
    session_id(to)
    if to == source:
        # the source holds data, as any existing target does: the same conflict
        raise BadInput('"to" must name another session than the one forked', 409)
    at = data.get("at")
    if at is not None and not isinstance(at, str):
        raise BadInput(f'"at" must be a message id string or null, got {_json_type(at)}')
    return ForkBody(to, None if at is None else message_id(at))


def import_body(raw: bytes, max_messages: int | None = None) -> ImportBody:
    """`{"messages": [{"id", "role", "content", "created_at", "summarized"?}], "context"?,
    "tokens"?}`: a session as exported, every message with its own id and time."""
    try:
        data = json_body(raw, None if max_messages is None else max_messages + 1)
    except BadInput as exc:
        if exc.status != 413:
            raise
        raise _too_many_messages(f"more than {max_messages}", max_messages) from None
    if not isinstance(data, dict):
        raise BadInput(f"the body must be a JSON object, got {_json_type(data)}")
    items = data.get("messages")
    if not isinstance(items, list):
        raise BadInput(f'the body must have a "messages" list, got {_json_type(items)}')
    entries: list[NewEntry] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        where = f"messages[{index}]"
        if not isinstance(item, dict):
            raise BadInput(f"{where} must be an object, got {_json_type(item)}")
        for key in ("id", "role", "content"):
            if not isinstance(item.get(key), str):
                raise BadInput(
                    f'{where} must have an "{key}" string'
                    if key == "id"
                    else f'{where} must have a "{key}" string'
                )
            _storable(f"{where}.{key}", item[key])
        if ": " in item["role"]:
            raise BadInput(f'{where}.role must not contain ": "')
        try:
            public = message_id(item["id"])
        except BadInput as exc:
            raise BadInput(f"{where}.id: {exc.message}") from None
        created = _whole_number(item.get("created_at"))
        if created is None:
            raise BadInput(f"{where}.created_at must be unix time in milliseconds (an integer)")
        summarized = item.get("summarized", False)
        if not isinstance(summarized, bool):
            raise BadInput(f"{where}.summarized must be true or false")
        if public in seen:
            # a message twice in one body is a message imported twice: the first stands
            continue
        seen.add(public)
        entries.append(NewEntry(public, item["role"], item["content"], created, summarized))
    context = data.get("context")
    if context is not None and not isinstance(context, str):
        raise BadInput(f'"context" must be a string or null, got {_json_type(context)}')
    if context is not None:
        _storable('"context"', context)
    tokens = data.get("tokens")
    if tokens is not None:
        tokens = _whole_number(tokens)
        if tokens is None:
            raise BadInput('"tokens" must be a non-negative integer or null')
    return ImportBody(entries, len(items), context, tokens)


def _whole_number(value: Any) -> int | None:
    """A non-negative integer below 2**53, written as JSON writes it: `1000` or `1000.0`
    (JSON Schema's integer takes both); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    if not 0 <= value < 2**53:
        return None
    return int(value)


def _object(raw: bytes) -> dict[str, Any]:
    data = json_body(raw)
    if not isinstance(data, dict):
        raise BadInput(f"the body must be a JSON object, got {_json_type(data)}")
    return data


def retrieval_body(raw: bytes) -> str:
    """Motörhead's `{"text": "..."}`; other keys are ignored, as Motörhead ignores them."""
    return _search_text(_object(raw))


def _search_text(data: dict[str, Any]) -> str:
    text = data.get("text")
    if not isinstance(text, str):
        raise BadInput(f'the body must have a "text" string, got {_json_type(text)}')
    _storable('"text"', text)
    return text


def search_body(raw: bytes) -> SearchBody:
    """`{"text": str, "session_id": str | null, "limit": 1..MAX_SEARCH_LIMIT}`; a missing or
    null session searches every session, a missing limit is DEFAULT_SEARCH_LIMIT."""
    data = _object(raw)
    text = _search_text(data)
    sid = data.get("session_id")
    if sid is not None:
        if not isinstance(sid, str):
            raise BadInput(f'"session_id" must be a string or null, got {_json_type(sid)}')
        session_id(sid)
    given = data.get("limit", DEFAULT_SEARCH_LIMIT)
    limit = _whole_number(given)
    if limit is None or not 1 <= limit <= MAX_SEARCH_LIMIT:
        number = isinstance(given, int | float) and not isinstance(given, bool)
        shown = repr(given) if number else _json_type(given)
        raise BadInput(f'"limit" must be an integer from 1 to {MAX_SEARCH_LIMIT}, got {shown}')
    return SearchBody(text, sid, limit)
