"""The active faults of a running lab, on disk beside its state file, so `halab heal` from
another shell (or after a crash) undoes what a run left behind.

An entry says what was broken and, as plain data, how to undo it: a list of undo steps
that chaos/faults/undo.py knows how to run (`iptables-delete`, `start`, `unpause`, `remove-toxic`,
`llm-clear`, `unseal`). Writes are atomic (a temp file renamed); entries are keyed by id.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_lock = threading.Lock()


@dataclass
class ActiveFault:
    id: str
    kind: str
    target: str
    options: dict[str, Any] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    undo: list[dict[str, Any]] = field(default_factory=list)
    what: str = ""  # what was hit, for `halab faults`: "etcd1 (leader)", "12 proxies"


def path_for(state_file: Path) -> Path:
    return state_file.with_name(state_file.stem + ".faults.json")


def load(state_file: Path) -> list[ActiveFault]:
    try:
        return [ActiveFault(**d) for d in json.loads(path_for(state_file).read_text())]
    except FileNotFoundError:
        return []


def _save(state_file: Path, faults: list[ActiveFault]) -> None:
    path = path_for(state_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps([asdict(f) for f in faults], indent=2))
    tmp.replace(path)


def add(state_file: Path, fault: ActiveFault) -> None:
    with _lock:
        _save(state_file, [f for f in load(state_file) if f.id != fault.id] + [fault])


def remove(state_file: Path, fault_id: str) -> None:
    with _lock:
        _save(state_file, [f for f in load(state_file) if f.id != fault_id])


def clear(state_file: Path) -> None:
    path_for(state_file).unlink(missing_ok=True)
