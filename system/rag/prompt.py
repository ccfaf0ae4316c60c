"""The enriched prompt: the context chunks, each tagged `[source: <doc_id>#<chunk>]`, then the question.

    >>> build_messages("where?", [("doc-1#0", "Paris is in France.")])[1]["content"].splitlines()[1]
    '[source: doc-1#0] Paris is in France.'
"""

from __future__ import annotations

SYSTEM = ("Answer the question using only the context. Cite the sources you use by their "
          "[source: ...] tags. If the context does not answer it, say so.")


def build_messages(question: str, context: list[tuple[str, str]]) -> list[dict]:
    lines = ["Context:"]
    lines += [f"[source: {sid}] {text}" for sid, text in context] or ["(no documents you may read match)"]
    lines += ["", f"Question: {question}"]
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(lines)}]
