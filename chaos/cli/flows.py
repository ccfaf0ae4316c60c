"""The measured flows as a table: what `halab measure`, `halab load` and `halab chaos run` print
after a run."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from harness.history import Op


def print_flows(console: Console, history: list[Op]) -> None:
    from rich.table import Table

    from scenarios import checkers

    table = Table(title="measured flows (latency in ms from the intended start, over ok operations)")
    for col in ("flow", "ok", "fail", "info", "avail", "p50", "p95", "p99", "max"):
        table.add_column(col, justify="left" if col == "flow" else "right")
    lat = checkers.latency(history)
    for f, a in checkers.availability(history).items():
        la = lat.get(f)
        table.add_row(f, f"{a.ok:,}", f"{a.fail:,}", f"{a.info:,}", f"{a.availability:.4f}",
                      *(f"{getattr(la, k) * 1000:.1f}" if la else "-" for k in ("p50", "p95", "p99", "max")))
    console.print(table)
