"""W3C Server-Timing (`name;dur=ms, ...`) -> {name: seconds}, as operations record steps.

    >>> parse("opa_compile;dur=4.95, etcd_txn;dur=2.40, gateway;dur=0.31;desc=own")
    {'opa_compile': 0.00495, 'etcd_txn': 0.0024, 'gateway': 0.00031}
    >>> parse("cache;desc=hit, broken;dur=x") == {}
    True
"""

from __future__ import annotations


def parse(header: str | None) -> dict[str, float]:
    steps: dict[str, float] = {}
    for entry in (header or "").split(","):
        name, *params = (p.strip() for p in entry.split(";"))
        for p in params:
            key, _, val = p.partition("=")
            if key.strip().lower() == "dur" and name:
                try:
                    steps[name] = round(float(val.strip().strip('"')) / 1000, 9)
                except ValueError:
                    pass
    return steps
