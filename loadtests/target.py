"""The running lab as a load generator sees it: the VIP, the consumers' API keys and which
site each gateway is in, read from `halab up`'s state file and private secrets directory
(no Docker: Locust's processes only need this).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


class NoLab(RuntimeError):
    """No running lab to load; the message says how to start one."""


@dataclass(frozen=True)
class Target:
    preset: str
    run_id: str
    vip_url: str
    keys: dict[str, str]
    site_of: dict[str, str]  # gateway name -> site
    request_timeout_s: float
    # The run's CA certificate (public), which the VIP's is checked against: its text, not a
    # path, since the master sends the target to workers on other hosts.
    ca_pem: str = ""

    @classmethod
    def from_state(cls, state_file: str | Path | None = None) -> Target:
        from harness.spec import preset
        from harness.topology import state as st
        from harness.topology.settings import TopologySettings

        path = Path(state_file) if state_file else TopologySettings().state_file
        state = st.load(path)
        if state is None:
            raise NoLab(f"no lab is running (no state file at {path}): start one with `halab up`")
        try:
            keys = json.loads(state.secret("consumers.json"))
        except OSError as exc:
            raise NoLab(f"the lab {state.run_id} has no consumers' keys ({exc}); `halab down && halab up`") from None
        site_of = {c.name: c.site for c in state.of_kind("gateway")}
        timeout = preset(state.preset).params.timeouts.request_s
        ca = Path(state.ca_file)
        return cls(state.preset, state.run_id, state.vip_url, keys, site_of, timeout,
                   ca.read_text() if ca.is_file() else "")
