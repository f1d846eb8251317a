"""p50k_base from the bundled vocabulary: same ids as OpenAI's, and never a download."""

from __future__ import annotations

import gzip
import hashlib
import inspect
import os
import subprocess
import sys
from importlib import resources

import pytest
import tiktoken_ext.openai_public as openai_public

from chatcli.server.tokens import PAT_STR, count_tokens, encoding, truncate_tokens
from tests.support.procs import free_port


def test_bundled_file_is_byte_identical_to_tiktokens_p50k_base():
    data = resources.files("chatcli.server") / "data" / "p50k_base.tiktoken.gz"
    digest = hashlib.sha256(gzip.decompress(data.read_bytes())).hexdigest()
    assert digest in inspect.getsource(openai_public.p50k_base)


def test_definition_matches_tiktokens_p50k_base():
    enc = encoding()
    assert openai_public.r50k_pat_str == PAT_STR
    assert enc.name == "p50k_base"
    assert enc.n_vocab == 50281
    assert enc.eot_token == 50256


def test_encoding_is_built_once_per_process():
    assert encoding() is encoding()


def test_plain_text_gets_gpt2_ids():
    assert encoding().encode_ordinary("hello world") == [31373, 995]
    assert encoding().encode_ordinary("Hello, world!") == [15496, 11, 995, 0]


def test_runs_of_spaces_use_the_p50k_whitespace_tokens():
    enc = encoding()
    assert [enc.decode_single_token_bytes(i) for i in range(50257, 50281)] == [
        b" " * n for n in range(2, 26)
    ]
    assert enc.encode_ordinary("    return x") == [50258, 1441, 2124]


def test_count_tokens_counts_p50k_tokens():
    assert count_tokens("") == 0
    assert count_tokens("hello world") == 2
    assert count_tokens("def f():\n        pass") == 6


def test_special_token_text_in_user_input_is_counted_as_plain_text():
    assert count_tokens("<|endoftext|>") == 7


def test_truncate_keeps_text_that_fits_unchanged():
    assert truncate_tokens("hello world", 2) == "hello world"


def test_truncate_keeps_the_leading_tokens():
    assert truncate_tokens("Hello, world!", 2) == "Hello,"


def test_truncate_to_zero_is_empty():
    assert truncate_tokens("hello world", 0) == ""


def test_truncate_never_leaves_half_a_character():
    # "🙂" is two tokens of two bytes each; one token alone is not a character.
    assert truncate_tokens("🙂🙂", 1) == ""
    assert truncate_tokens("🙂🙂", 3) == "🙂"


def test_truncated_text_fits_the_budget():
    text = "Motörhead remembers: 日本語のテキスト, code\n\t    x = 1  # ok " * 20
    for budget in (1, 7, 50, 333):
        cut = truncate_tokens(text, budget)
        assert text.startswith(cut)
        assert count_tokens(cut) <= budget


def test_truncate_refuses_a_negative_budget():
    with pytest.raises(ValueError, match="max_tokens"):
        truncate_tokens("hello", -1)


def test_loads_with_no_network_and_an_empty_tiktoken_cache(tmp_path):
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "TIKTOKEN_CACHE_DIR": str(cache),
        "DATA_GYM_CACHE_DIR": str(cache),
        "http_proxy": dead_proxy,
        "https_proxy": dead_proxy,
        "HTTP_PROXY": dead_proxy,
        "HTTPS_PROXY": dead_proxy,
        "no_proxy": "",
        "NO_PROXY": "",
    }
    code = "from chatcli.server.tokens import count_tokens; print(count_tokens('hello world'))"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"
    assert list(cache.iterdir()) == []
