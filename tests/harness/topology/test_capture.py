"""The capture's byte search (harness/topology/capture.py), Docker-free."""

from __future__ import annotations

import base64

from harness.topology.capture import _base64_forms


def test_a_text_is_found_base64_encoded_at_any_alignment() -> None:
    text = b"halabcanary123456789"
    for before in range(4):
        for after in range(4):
            blob = base64.b64encode(b"x" * before + text + b"y" * after)
            assert any(f in blob for f in _base64_forms(text)), (before, after)


def test_another_text_is_not_found() -> None:
    blob = base64.b64encode(b"xx halabcanary000000000 yy")
    assert not any(f in blob for f in _base64_forms(b"halabcanary123456789"))
