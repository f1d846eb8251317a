"""config.example.toml documents every setting with its default, and parses as a config file."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from chatcli.config import (
    ENV_ALIASES,
    MOTORHEAD_ENV,
    SECTIONS,
    Settings,
    build_settings,
    read_config_file,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"
KEYS = [(section, f.name) for section, cls in SECTIONS.items() for f in fields(cls)]


def test_it_parses_as_a_config_file_and_its_values_are_the_defaults() -> None:
    assert build_settings(read_config_file(EXAMPLE)) == Settings()


@pytest.mark.parametrize(("section", "key"), KEYS, ids=[f"{s}.{k}" for s, k in KEYS])
def test_every_setting_appears_in_its_section(section: str, key: str) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    body = text.split(f"\n[{section}]\n", 1)[1].split("\n[", 1)[0]
    assert re.search(rf"^(# )?{key} = ", body, re.MULTILINE), f"{section}.{key} is not documented"
    assert f"CHATCLI_{section.upper()}_{key.upper()}" in body


@pytest.mark.parametrize("name", [*ENV_ALIASES, *MOTORHEAD_ENV])
def test_every_other_environment_name_is_documented(name: str) -> None:
    assert re.search(rf"\b{name}\b", EXAMPLE.read_text(encoding="utf-8"))
