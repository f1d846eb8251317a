"""Settings: flags > environment > config.toml > defaults.

The merge is plain functions over plain dicts (`merge_layers`, `env_layer`,
`motorhead_env_layer`, `coerce`) so it is tested without files or processes;
`load_settings` is the one edge that reads a file. A key's type annotation is its
whole declaration: `coerce` reads the type, and a `Literal` lists the key's choices.
"""

from __future__ import annotations

import tomllib
import types
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from chatcli.env import Environment
from chatcli.errors import ConfigError
from chatcli.prompt import SYSTEM

SECRET_KEYS = frozenset({"api_key"})
MASK = "********"


Provider = Literal["auto", "local", "openai"]
Api = Literal["chat", "completions"]
StoreKind = Literal["sqlite", "redis"]
EmbeddingKind = Literal["local", "minilm", "wordllama", "openai"]
"""'local' is the packaged model chatcli recommends (chatcli.recall.open says which and why);
'minilm' and 'wordllama' name a packaged model; 'openai' is llm.base_url's /embeddings."""
LogLevel = Literal["critical", "error", "warning", "info", "debug"]


@dataclass(frozen=True)
class LLMSettings:
    provider: Provider = "auto"
    model: str = "gpt-4o-mini"
    api: Api = "chat"
    base_url: str | None = None
    api_key: str | None = None
    temperature: float | None = None
    """None: the provider's own default (OpenAI's API default; 0.2 for the small local model)."""
    max_tokens: int = 512
    timeout: float = 60.0
    stream: bool = True
    local_model_path: str | None = None
    context_size: int = 2048
    threads: int = 0


@dataclass(frozen=True)
class MemorySettings:
    url: str | None = None
    api_key: str | None = None
    timeout: float = 10.0
    namespace: str | None = None


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    store: StoreKind = "sqlite"
    db: str | None = None
    redis_url: str = "redis://127.0.0.1:6379/0"
    window: int = 12
    api_key: str | None = None
    allow_public: bool = False
    max_body_bytes: int = 4 * 1024 * 1024
    max_messages_per_post: int = 2000
    max_header_bytes: int = 64 * 1024
    header_timeout: float = 10.0
    max_connections: int = 1000
    idempotency_ttl: float = 24 * 3600.0
    long_term_memory: bool = True
    """/retrieval and /search, with the indexer (offline by default); Motörhead's
    MOTORHEAD_LONG_TERM_MEMORY=false turns it off for `chatcli serve`."""
    embedding: EmbeddingKind = "local"
    """The model that indexes messages for /retrieval; changing it re-embeds what is stored."""
    embedding_model: str = "text-embedding-3-small"
    """The model name sent to /embeddings when embedding is 'openai'."""
    summarize: bool = True
    log_level: LogLevel = "info"
    workers: int = 1
    pid_header: bool = False


@dataclass(frozen=True)
class ChatSettings:
    markdown: bool = True
    history_file: str | None = None
    system: str = SYSTEM
    """The prompt's first line; the seed's by default, so the seed's prompt is unchanged."""


@dataclass(frozen=True)
class Settings:
    llm: LLMSettings = field(default_factory=LLMSettings)
    memory: MemorySettings = field(default_factory=MemorySettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    chat: ChatSettings = field(default_factory=ChatSettings)


SECTIONS: dict[str, type] = {
    "llm": LLMSettings,
    "memory": MemorySettings,
    "server": ServerSettings,
    "chat": ChatSettings,
}

Layer = dict[str, dict[str, Any]]

# Environment names that are not CHATCLI_<SECTION>_<KEY>, for every command.
ENV_ALIASES: dict[str, tuple[str, str]] = {
    "OPENAI_API_KEY": ("llm", "api_key"),
    "OPENAI_API_BASE": ("llm", "base_url"),
    "OPENAI_BASE_URL": ("llm", "base_url"),
    "CHATCLI_MODEL": ("llm", "model"),
    "CHATCLI_LLM": ("llm", "provider"),
}

# Motörhead's own variables: only `chatcli serve` reads them, so a Motörhead user
# switches by changing one command while the CLI's embedded server stays on SQLite.
MOTORHEAD_ENV: dict[str, tuple[str, str]] = {
    "PORT": ("server", "port"),
    "REDIS_URL": ("server", "redis_url"),
    "MOTORHEAD_MAX_WINDOW_SIZE": ("server", "window"),
    "MOTORHEAD_LONG_TERM_MEMORY": ("server", "long_term_memory"),
    "MOTORHEAD_MODEL": ("llm", "model"),
}


def merge_layers(*layers: Layer) -> Layer:
    """Later layers win, key by key; None means 'not given' and never overrides."""
    merged: Layer = {}
    for layer in layers:
        for section, values in layer.items():
            target = merged.setdefault(section, {})
            for key, value in values.items():
                if value is not None:
                    target[key] = value
    return merged


def env_layer(environ: Mapping[str, str]) -> Layer:
    """CHATCLI_<SECTION>_<KEY> for every key, plus the OpenAI names users already set."""
    layer: Layer = {}
    for name, (section, key) in ENV_ALIASES.items():
        if environ.get(name):
            layer.setdefault(section, {})[key] = environ[name]
    for section, cls in SECTIONS.items():
        for f in fields(cls):
            value = environ.get(f"CHATCLI_{section.upper()}_{f.name.upper()}")
            if value is not None and value != "":
                layer.setdefault(section, {})[f.name] = value
    return layer


def motorhead_env_layer(environ: Mapping[str, str]) -> Layer:
    """Motörhead's variables; REDIS_URL also selects the Redis store, as it does in Motörhead."""
    layer: Layer = {}
    for name, (section, key) in MOTORHEAD_ENV.items():
        if environ.get(name):
            layer.setdefault(section, {})[key] = environ[name]
    if environ.get("REDIS_URL"):
        layer.setdefault("server", {})["store"] = "redis"
    if environ.get("MOTORHEAD_LONG_TERM_MEMORY"):
        # Motörhead's own reading: on only for "true" (any case), off for anything else
        on = environ["MOTORHEAD_LONG_TERM_MEMORY"].strip().lower() == "true"
        layer.setdefault("server", {})["long_term_memory"] = on
    return layer


def coerce(section: str, key: str, value: Any) -> Any:
    """Turn a string from the environment or a TOML value into the field's type, or say why not."""
    cls = SECTIONS.get(section)
    if cls is None:
        expected = ", ".join(SECTIONS)
        raise ConfigError(f"unknown config section [{section}]: expected one of {expected}")
    hints = get_type_hints(cls)
    if key not in hints:
        raise ConfigError(
            f"unknown config key {section}.{key}: see config.example.toml for the keys"
        )
    kind, choices = field_kind(hints[key])
    try:
        result = None if value is None else _convert(kind, value)
    except ValueError:
        expected = TYPE_WORDS[kind]
        raise ConfigError(f"{section}.{key} must be {expected}, got {value!r}") from None
    if choices and result not in choices:
        raise ConfigError(f"{section}.{key} must be one of {', '.join(choices)}, got {result!r}")
    if kind is int and result is not None and result < 0:
        raise ConfigError(f"{section}.{key} must not be negative, got {result}")
    return result


TYPE_WORDS: dict[type, str] = {bool: "bool", int: "int", float: "float", str: "text"}
"""How an error names each kind of value."""


def field_kind(hint: Any) -> tuple[type, tuple[str, ...]]:
    """A settings field's value type, without its `| None`, and its choices when a
    `Literal` lists them (a Literal of text is text)."""
    if get_origin(hint) in (Union, types.UnionType):
        (hint,) = [arg for arg in get_args(hint) if arg is not type(None)]
    if get_origin(hint) is Literal:
        return str, get_args(hint)
    if hint not in TYPE_WORDS:
        raise TypeError(f"a settings field of type {hint!r} has no coercion")
    return hint, ()


def _convert(kind: type, value: Any) -> Any:
    if kind is bool:
        return _to_bool(value)
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(value)
        return value
    if isinstance(value, bool):
        raise ValueError(value)
    return kind(value)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(value)


def build_settings(layer: Layer) -> Settings:
    sections = {}
    for section, cls in SECTIONS.items():
        values = {k: coerce(section, k, v) for k, v in layer.get(section, {}).items()}
        sections[section] = cls(**values)
    settings = Settings(**sections)
    if settings.server.window < 2:
        raise ConfigError(f"server.window must be at least 2, got {settings.server.window}")
    return settings


def read_config_file(path: Path) -> Layer:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    layer: Layer = {}
    for section, values in data.items():
        if not isinstance(values, dict):
            raise ConfigError(f"config file {path}: {section} must be a [section] table")
        for key, value in values.items():
            coerce(section, key, value)
        layer[section] = dict(values)
    return layer


def config_file_path(env: Environment, explicit: Path | None = None) -> Path:
    if explicit is not None:
        return explicit
    if env.environ.get("CHATCLI_CONFIG"):
        return Path(env.environ["CHATCLI_CONFIG"])
    return env.config_dir / "config.toml"


def load_settings(
    env: Environment,
    config_path: Path | None = None,
    flags: Layer | None = None,
    motorhead_env: bool = False,
) -> Settings:
    """The settings for one command; `motorhead_env` is for `chatcli serve` only."""
    path = config_file_path(env, config_path)
    if config_path is not None and not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    layers = [read_config_file(path)]
    if motorhead_env:
        layers.append(motorhead_env_layer(env.environ))
    layers.append(env_layer(env.environ))
    layers.append(flags or {})
    settings = build_settings(merge_layers(*layers))
    return resolve_paths(settings, env)


def resolve_paths(settings: Settings, env: Environment) -> Settings:
    """Fill the file locations that depend on the user's data directory."""
    server = settings.server
    if not server.db:
        server = replace(server, db=str(env.data_dir / "memory.db"))
    chat = settings.chat
    if not chat.history_file:
        chat = replace(chat, history_file=str(env.data_dir / "input_history"))
    return replace(settings, server=server, chat=chat)


def resolve_provider(llm: LLMSettings) -> str:
    """'auto' means OpenAI when a key or a base URL is configured, the bundled model otherwise."""
    if llm.provider != "auto":
        return llm.provider
    return "openai" if (llm.api_key or llm.base_url) else "local"


def masked(settings: Settings) -> dict[str, dict[str, Any]]:
    """The settings as a dict with every secret replaced, for `config show`."""
    shown = asdict(settings)
    for values in shown.values():
        for key in values:
            if key in SECRET_KEYS and values[key]:
                values[key] = MASK
    return shown
