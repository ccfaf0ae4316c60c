"""Split a document into overlapping chunks at word boundaries.

    >>> chunk_text("one two three four", size=9, overlap=4)
    ['one two', 'two three', 'four']
"""

from __future__ import annotations


def chunk_text(text: str, size: int = 600, overlap: int = 80) -> list[str]:
    words = text.split()
    if not words:
        return []
    overlap = max(0, min(overlap, size // 2))
    chunks: list[str] = []
    start = 0
    while start < len(words):
        length, end = 0, start
        while end < len(words) and (length + len(words[end]) + (1 if end > start else 0) <= size or end == start):
            length += len(words[end]) + (1 if end > start else 0)
            end += 1
        chunks.append(" ".join(words[start:end]))
        if end >= len(words):
            break
        # Step back over `overlap` characters' worth of words, but always move forward.
        back, acc = end, 0
        while back > start + 1 and acc + len(words[back - 1]) + 1 <= overlap:
            back -= 1
            acc += len(words[back]) + 1
        start = back
    return chunks
