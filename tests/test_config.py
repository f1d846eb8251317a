"""Settings: flags > environment > config.toml > defaults, as plain functions."""

from __future__ import annotations

from pathlib import Path
from typing import get_type_hints

import pytest

from chatcli.config import (
    MASK,
    SECTIONS,
    LLMSettings,
    ServerSettings,
    build_settings,
    env_layer,
    field_kind,
    load_settings,
    masked,
    merge_layers,
    motorhead_env_layer,
    resolve_provider,
)
from chatcli.env import Environment
from chatcli.errors import ConfigError


def make_env(tmp_path: Path, environ: dict[str, str] | None = None) -> Environment:
    return Environment(
        environ=environ or {}, config_dir=tmp_path / "config", data_dir=tmp_path / "data"
    )


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_later_layers_win_key_by_key() -> None:
    merged = merge_layers(
        {"llm": {"model": "a", "api": "chat"}}, {"llm": {"model": "b"}}, {"llm": {"model": "c"}}
    )
    assert merged == {"llm": {"model": "c", "api": "chat"}}


def test_a_flag_left_unset_does_not_override() -> None:
    merged = merge_layers({"llm": {"model": "from-file"}}, {"llm": {"model": None}})
    assert merged["llm"]["model"] == "from-file"


def test_every_key_has_a_chatcli_environment_variable() -> None:
    layer = env_layer({"CHATCLI_SERVER_WINDOW": "6", "CHATCLI_MEMORY_URL": "http://x"})
    assert layer == {"server": {"window": "6"}, "memory": {"url": "http://x"}}


def test_openai_variables_configure_the_llm() -> None:
    layer = env_layer({"OPENAI_API_KEY": "sk-1", "OPENAI_BASE_URL": "http://127.0.0.1:1/v1"})
    assert layer["llm"] == {"api_key": "sk-1", "base_url": "http://127.0.0.1:1/v1"}


def test_chatcli_variable_beats_its_openai_alias() -> None:
    layer = env_layer({"OPENAI_API_KEY": "sk-openai", "CHATCLI_LLM_API_KEY": "sk-chatcli"})
    assert layer["llm"]["api_key"] == "sk-chatcli"


def test_motorhead_variables_map_to_server_settings() -> None:
    layer = motorhead_env_layer(
        {"PORT": "9000", "MOTORHEAD_MAX_WINDOW_SIZE": "20", "MOTORHEAD_MODEL": "gpt-4o"}
    )
    assert layer == {"server": {"port": "9000", "window": "20"}, "llm": {"model": "gpt-4o"}}


def test_redis_url_selects_the_redis_store_as_in_motorhead() -> None:
    layer = motorhead_env_layer({"REDIS_URL": "redis://127.0.0.1:6379"})
    assert layer["server"] == {"redis_url": "redis://127.0.0.1:6379", "store": "redis"}


def test_long_term_memory_is_on_by_default() -> None:
    assert build_settings({}).server.long_term_memory is True


@pytest.mark.parametrize(
    ("value", "on"), [("true", True), ("TRUE", True), ("false", False), ("1", False)]
)
def test_motorhead_long_term_memory_is_on_only_for_true_as_in_motorhead(
    value: str, on: bool
) -> None:
    layer = motorhead_env_layer({"MOTORHEAD_LONG_TERM_MEMORY": value})
    assert layer["server"] == {"long_term_memory": on}


def test_strings_are_coerced_to_the_field_types() -> None:
    settings = build_settings(
        {"server": {"port": "9000", "allow_public": "yes"}, "llm": {"temperature": "0.1"}}
    )
    assert settings.server.port == 9000
    assert settings.server.allow_public is True
    assert settings.llm.temperature == 0.1


def test_a_non_number_for_a_number_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"server\.port must be int"):
        build_settings({"server": {"port": "eighty"}})


def test_a_value_outside_the_choices_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"llm\.provider must be one of auto, local, openai"):
        build_settings({"llm": {"provider": "anthropic"}})


def test_an_unknown_key_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"unknown config key llm\.modle"):
        build_settings({"llm": {"modle": "x"}})


def test_a_window_below_two_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"server\.window must be at least 2"):
        build_settings({"server": {"window": 1}})


def test_flags_beat_environment_beat_file(tmp_path: Path) -> None:
    write_config(tmp_path, '[llm]\nmodel = "file"\nbase_url = "http://file"\napi = "completions"\n')
    env = make_env(tmp_path, {"CHATCLI_LLM_MODEL": "env", "CHATCLI_LLM_BASE_URL": "http://env"})
    settings = load_settings(env, flags={"llm": {"model": "flag"}})
    assert (settings.llm.model, settings.llm.base_url, settings.llm.api) == (
        "flag",
        "http://env",
        "completions",
    )


def test_a_missing_default_config_file_means_defaults(tmp_path: Path) -> None:
    settings = load_settings(make_env(tmp_path))
    assert settings.llm == LLMSettings()


def test_an_explicit_config_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(make_env(tmp_path), config_path=tmp_path / "nope.toml")


def test_a_config_file_that_is_not_toml_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[llm\nmodel = ")
    with pytest.raises(ConfigError, match=f"config file {path} is not valid TOML"):
        load_settings(make_env(tmp_path))


def test_a_wrong_type_in_the_config_file_is_an_error(tmp_path: Path) -> None:
    write_config(tmp_path, "[server]\nport = true\n")
    with pytest.raises(ConfigError, match=r"server\.port must be int"):
        load_settings(make_env(tmp_path))


def test_motorhead_variables_apply_only_when_asked(tmp_path: Path) -> None:
    env = make_env(tmp_path, {"REDIS_URL": "redis://127.0.0.1:1", "PORT": "9000"})
    assert load_settings(env).server.store == "sqlite"
    served = load_settings(env, motorhead_env=True).server
    assert (served.store, served.port) == ("redis", 9000)


def test_chatcli_variables_beat_motorhead_ones_for_serve(tmp_path: Path) -> None:
    env = make_env(tmp_path, {"PORT": "9000", "CHATCLI_SERVER_PORT": "9100"})
    assert load_settings(env, motorhead_env=True).server.port == 9100


def test_file_locations_default_to_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings(make_env(tmp_path))
    assert settings.server.db == str(tmp_path / "data" / "memory.db")
    assert settings.chat.history_file == str(tmp_path / "data" / "input_history")


def test_auto_provider_is_local_without_key_or_base_url() -> None:
    assert resolve_provider(LLMSettings()) == "local"


def test_auto_provider_is_openai_with_a_key() -> None:
    assert resolve_provider(LLMSettings(api_key="sk-x")) == "openai"


def test_auto_provider_is_openai_with_a_base_url() -> None:
    assert resolve_provider(LLMSettings(base_url="http://127.0.0.1:1/v1")) == "openai"


def test_masked_settings_hide_every_api_key() -> None:
    settings = build_settings(
        {"llm": {"api_key": "sk-secret"}, "memory": {"api_key": "m"}, "server": {"api_key": "s"}}
    )
    shown = masked(settings)
    assert shown["llm"]["api_key"] == shown["memory"]["api_key"] == MASK
    assert "sk-secret" not in repr(shown)


def test_masking_leaves_an_unset_key_unset() -> None:
    assert masked(build_settings({}))["llm"]["api_key"] is None


def test_every_settings_key_has_a_type_coerce_knows() -> None:
    for cls in SECTIONS.values():
        for name, hint in get_type_hints(cls).items():
            kind, _ = field_kind(hint)
            assert kind in (bool, int, float, str), (cls.__name__, name)


def test_a_keys_choices_are_the_literal_in_its_type() -> None:
    assert field_kind(get_type_hints(LLMSettings)["provider"]) == (
        str,
        ("auto", "local", "openai"),
    )
    assert field_kind(get_type_hints(ServerSettings)["db"]) == (str, ())


def test_chat_system_defaults_to_the_seeds_line_and_comes_from_the_environment() -> None:
    from chatcli.prompt import SYSTEM

    assert build_settings({}).chat.system == SYSTEM
    layer = env_layer({"CHATCLI_CHAT_SYSTEM": "Be brief."})
    assert build_settings(layer).chat.system == "Be brief."
