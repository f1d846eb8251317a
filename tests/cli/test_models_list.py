"""`chatcli models`: the provider's models, the configured one marked, and the local model."""

from __future__ import annotations

from chatcli.config import LLMSettings
from chatcli.models_list import local_model, model_in_use


def test_models_lists_the_providers_models_marking_the_configured_one(cli, scripted_llm) -> None:
    result = cli("models", "-m", "scripted")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"# openai-compatible provider at {scripted_llm.base_url} (in use)"
    assert lines[1] == "* scripted"
    assert lines[2] == "# local model"


def test_models_says_when_the_configured_model_is_not_offered(cli) -> None:
    result = cli("models", "-m", "gpt-9")
    assert "  scripted" in result.stdout.splitlines()
    assert "# llm.model gpt-9 is not among them: set llm.model or --model" in result.stdout


def test_an_unreachable_provider_is_one_line(cli) -> None:
    result = cli("models", env={"CHATCLI_LLM_BASE_URL": "http://127.0.0.1:9/v1"})
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "chatcli: error: cannot reach the model provider at http://127.0.0.1:9/v1: "
    )
    assert result.stderr.count("\n") == 1


def test_with_the_local_provider_only_the_local_model_is_listed(cli, scripted_llm) -> None:
    result = cli("models", "--llm", "local")
    assert result.stdout.splitlines()[0] == "# local model (in use)"
    assert result.stdout.splitlines()[1].startswith("* ")
    assert scripted_llm.requests == []


def test_a_configured_local_file_is_described_without_loading_it(tmp_path) -> None:
    path = tmp_path / "tiny.gguf"
    path.write_bytes(b"not really a model")
    assert local_model(LLMSettings(local_model_path=str(path))).state == "ready"
    missing = local_model(LLMSettings(local_model_path=str(tmp_path / "none.gguf")))
    assert missing.state.startswith("missing")


def test_auto_resolves_to_the_local_model_without_a_key_or_url(tmp_path) -> None:
    path = tmp_path / "tiny.gguf"
    path.write_bytes(b"x")
    assert model_in_use(LLMSettings(local_model_path=str(path))) == ("local", "tiny.gguf")
    assert model_in_use(LLMSettings(base_url="http://127.0.0.1:1/v1")) == ("openai", "gpt-4o-mini")
