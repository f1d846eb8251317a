"""tiktoken's `p50k_base`, loaded from a vocabulary bundled with chatcli.

Motörhead sizes its summarization chunks in p50k_base tokens, so the server must count
the same way. tiktoken would download that vocabulary on first use, and chatcli may never
touch the internet, so the file ships in `data/p50k_base.tiktoken.gz`.

The file is byte-for-byte the one tiktoken downloads: once decompressed its sha256 equals
tiktoken's `expected_hash` for p50k_base, which is checked on every load. It was built
from the GPT-2 vocabulary (`whisper/assets/gpt2.tiktoken` in the openai-whisper 20250625
sdist, whose sha256 is tiktoken's r50k_base hash) plus p50k's 24 extra tokens: runs of
2..25 spaces at ranks 50257..50280.

Licence: the GPT-2 vocabulary is OpenAI's, distributed under the MIT licence
("Copyright (c) 2022 OpenAI", from openai-whisper's LICENSE; GPT-2's own release is also
MIT), which permits redistribution with that notice.

We parse the file ourselves instead of calling `tiktoken.load.load_tiktoken_bpe`: that
function cannot read gzip, copies the file into tiktoken's cache directory on every
load, and raises if a user-set TIKTOKEN_CACHE_DIR is not writable. The format and the
hash check are the same.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from functools import lru_cache
from importlib import resources

import tiktoken

_DATA_FILE = "p50k_base.tiktoken.gz"
_EXPECTED_SHA256 = "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069"

# tiktoken_ext.openai_public.r50k_pat_str, which p50k_base uses; copied so that a rename
# inside tiktoken cannot break loading (a test checks the two still agree).
PAT_STR = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
ENDOFTEXT = "<|endoftext|>"
SPECIAL_TOKENS = {ENDOFTEXT: 50256}
N_VOCAB = 50281


def _mergeable_ranks() -> dict[bytes, int]:
    raw = gzip.decompress((resources.files(__package__) / "data" / _DATA_FILE).read_bytes())
    actual = hashlib.sha256(raw).hexdigest()
    if actual != _EXPECTED_SHA256:
        raise ValueError(
            f"bundled {_DATA_FILE} is corrupt (sha256 {actual}, expected {_EXPECTED_SHA256}); "
            "reinstall chatcli"
        )
    ranks: dict[bytes, int] = {}
    for line in raw.splitlines():
        token, rank = line.split()
        ranks[base64.b64decode(token)] = int(rank)
    return ranks


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    """The p50k_base encoding, built once per process from the bundled file."""
    return tiktoken.Encoding(
        name="p50k_base",
        pat_str=PAT_STR,
        mergeable_ranks=_mergeable_ranks(),
        special_tokens=SPECIAL_TOKENS,
        explicit_n_vocab=N_VOCAB,
    )


def _encode(text: str) -> list[int]:
    # User text is data: "<|endoftext|>" in it is counted as ordinary characters instead
    # of raising (tiktoken's encode() refuses special-token text by default).
    return encoding().encode_ordinary(text)


def count_tokens(text: str) -> int:
    """How many p50k_base tokens `text` costs, with special-token text counted as plain text."""
    return len(_encode(text))


def truncate_tokens(text: str, max_tokens: int) -> str:
    """The longest token prefix of `text` that still fits in `max_tokens` when re-counted.

    Cutting a token list can split a multi-byte character; the partial bytes are dropped
    rather than turned into U+FFFD. Re-encoding a prefix can, rarely, merge differently, so
    the prefix shrinks until `count_tokens` of the result is within the budget.
    """
    if max_tokens < 0:
        raise ValueError(f"max_tokens must be >= 0, got {max_tokens}")
    tokens = _encode(text)
    if len(tokens) <= max_tokens:
        return text
    enc = encoding()
    keep = max_tokens
    while keep > 0:
        prefix = enc.decode_bytes(tokens[:keep]).decode("utf-8", errors="ignore")
        if count_tokens(prefix) <= max_tokens:
            return prefix
        keep -= 1
    return ""
