"""The stub's deterministic answer: it quotes the source ids it finds in the prompt.

    answer_for([{"role": "user", "content": "[source: doc-1#0] Paris is in France.\\nQ: where?"}])
    # -> "Based on the context [doc-1#0]: ..."

Source ids are recognised in these forms (the RAG service's prompt uses the first):
`[source: ID]`, `[source=ID]`, `[doc_id: ID]`, `[id: ID]`, `<source id="ID">`, and a line
starting with `source:`, `source_id:` or `doc_id:`. The same messages always give the same
answer, whatever the seed or the order of requests.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

_SOURCE_PATTERNS = [
    re.compile(r"\[\s*(?:source|source_id|doc|doc_id|id)\s*[:=]\s*([^\]\s,;]+)\s*\]", re.IGNORECASE),
    re.compile(r"<source\s+id=[\"']([^\"']+)[\"']", re.IGNORECASE),
    re.compile(r"^\s*(?:source|source_id|doc_id)\s*:\s*(\S+)\s*$", re.IGNORECASE | re.MULTILINE),
]
MAX_QUOTED_SOURCES = 16
QUESTION_WORDS = 24


def message_text(content) -> str:
    """OpenAI content is a string, or a list of parts of which the text parts count."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def source_ids(text: str) -> list[str]:
    found: list[tuple[int, str]] = []
    for pattern in _SOURCE_PATTERNS:
        found += [(m.start(), m.group(1)) for m in pattern.finditer(text)]
    seen: dict[str, None] = {}
    for _, sid in sorted(found):
        # A placeholder such as the "[source: ...]" of an instruction is not a source.
        if any(ch.isalnum() for ch in sid):
            seen.setdefault(sid, None)
    return list(seen)[:MAX_QUOTED_SOURCES]


def answer_for(messages: Iterable[dict]) -> str:
    messages = list(messages)
    texts = [message_text(m.get("content")) for m in messages]
    whole = "\n".join(texts)
    ids = source_ids(whole)
    user_texts = [message_text(m.get("content")) for m in messages if m.get("role") == "user"]
    question = _question(user_texts[-1] if user_texts else (texts[-1] if texts else ""))
    digest = hashlib.sha256(whole.encode()).hexdigest()[:12]
    if ids:
        cited = " ".join(f"[{i}]" for i in ids)
        head = f"Based on the context {cited}:"
    else:
        head = "No sources were found in the context;"
    return f"{head} the answer to \"{question}\" is drawn from {len(ids)} source(s). (stub digest {digest})"


def _question(text: str) -> str:
    # The question is usually the prompt's last non-empty line; keep it short and quotable.
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    words = last.replace('"', "'").split()
    return " ".join(words[:QUESTION_WORDS]) + (" ..." if len(words) > QUESTION_WORDS else "")


def tokens(text: str) -> list[str]:
    """Split into stream pieces: each word with the space before it, so ''.join() == text."""
    return re.findall(r"\s*\S+", text) or [text]


def count_tokens(text: str) -> int:
    return len(text.split())
