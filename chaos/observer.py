"""System events into the history while a run goes on (the events harness/history.py names):

    haproxy      server-down / server-up   {"server", "lb"}       HAProxy's stats CSV, per LB
    raft-etcd    leader                    {"leader": name|None}  etcd's maintenance status
    raft-vault   leader                    {"leader": name|None}  OpenBao's sys/health
    policy_sync  policy-loaded             {"site", "revision", "delay_s"}  policy_sync /status
    gateway      key-refreshed             {"gateway", "reads", "failures", "stale_served"}
    vrrp         master                    {"lb"}                 keepalived's log, per LB (with `docker`)
    llm          keys                      {"accepted_previous_key", "rejected": n}  the LLM API's counters

Each source is polled on a thread of its own every POLL_S, so a dead etcd member's timeouts
do not delay HAProxy's marks; only changes become events. A `policy-loaded` event is written
per acknowledged revision a site's policy_sync has reached, with the delay since the ack
(to within POLICY_POLL_S plus one status call).
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Callable

import httpx

from chaos import raft
from harness.history import Op
from harness.kinds import MONITOR_PORT

POLL_S = 0.25
# policy_sync's /status is cheap and propagation takes milliseconds: poll it faster, or the
# observer's own period would be most of the delay it reports.
POLICY_POLL_S = 0.02
TIMEOUT_S = 0.5


class Observer:
    def __init__(self, state, event: Callable[[str, str, dict], Op], history: Callable[[], list[Op]],
                 now: Callable[[], float], docker=None) -> None:
        self.state, self.event, self.history, self.now, self.docker = state, event, history, now, docker
        self._stop = threading.Event()
        sources = ((self._haproxy, POLL_S), (self._etcd, POLL_S), (self._vault, POLL_S),
                   (self._policy_sync, POLICY_POLL_S), (self._gateways, POLL_S), (self._vrrp, 2 * POLL_S),
                   (self._llm_keys, 2 * POLL_S))
        self._threads = [threading.Thread(target=self._loop, args=(fn, period), daemon=True,
                                          name=f"observe-{fn.__name__}") for fn, period in sources]
        self._last: dict[tuple, object] = {}
        self._emitted: dict[str, set[int]] = {}
        self._http = httpx.Client(timeout=TIMEOUT_S, trust_env=False)

    def __enter__(self) -> Observer:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        self._http.close()

    def _loop(self, fn, period: float) -> None:
        while not self._stop.wait(period):
            try:
                fn()
            except Exception:  # noqa: BLE001 - a source that fails this time is polled again
                pass

    def _changed(self, key: tuple, value) -> bool:
        if self._last.get(key, object()) == value:
            return False
        first = key not in self._last
        self._last[key] = value
        return not first or key[0] in ("raft-etcd", "raft-vault", "llm")  # their first state is news too

    def _of(self, kind: str):
        return [(n, c) for n, c in self.state.components.items() if c["kind"] == kind]

    def _haproxy(self) -> None:
        for lb, c in self._of("lb"):
            try:
                text = self._http.get(f"http://{c['address']}:{MONITOR_PORT}/stats;csv").text
            except httpx.HTTPError:
                continue  # an LB down: its marks stop, the other LB's go on
            for row in csv.DictReader(io.StringIO(text.lstrip("# "))):
                if row.get("pxname") != "gateways" or row.get("svname") in ("FRONTEND", "BACKEND"):
                    continue
                up = row.get("status", "").startswith("UP")
                if self._changed(("haproxy", lb, row["svname"]), up):
                    self.event("haproxy", "server-up" if up else "server-down", {"server": row["svname"], "lb": lb})

    def _etcd(self) -> None:
        leader = raft.etcd_leader(self.state)
        if self._changed(("raft-etcd",), leader):
            self.event("raft-etcd", "leader", {"leader": leader})

    def _vault(self) -> None:
        active = raft.bao_active(self.state)
        if self._changed(("raft-vault",), active):
            self.event("raft-vault", "leader", {"leader": active})

    def _policy_sync(self) -> None:
        for name, c in self._of("policy_sync"):
            try:
                revision = int(self._http.get(self.state.url(name) + "/status").json()["revision"])
            except (httpx.HTTPError, ValueError, KeyError):
                continue
            site = c["site"]
            emitted = self._emitted.setdefault(site, set())
            now = self.now()
            # An ack may come after the site already loaded it: the delay is then ~0.
            for op in self.history():
                r = (op.value or {}).get("revision") if op.f == "policy_update" and op.type == "ok" else None
                if isinstance(r, int) and r <= revision and r not in emitted:
                    emitted.add(r)
                    self.event("policy_sync", "policy-loaded",
                               {"site": site, "revision": r, "delay_s": round(max(0.0, now - op.time), 4)})

    def _vrrp(self) -> None:
        """The LB whose keepalived last logged MASTER for the VIP (the images carry no `ip`)."""
        if self.docker is None:
            return
        for lb, c in self._of("lb"):
            try:
                ctr = self.docker.containers.get(c["container"])
                lines = [ln for ln in ctr.logs(tail=50).decode(errors="replace").splitlines() if "halab_vip" in ln]
            except Exception:  # noqa: BLE001 - a killed LB has no logs to read this time
                continue
            master = bool(lines) and "MASTER" in lines[-1] and ctr.status == "running"
            if self._changed(("vrrp", lb), master) and master:
                self.event("vrrp", "master", {"lb": lb})

    def _llm_keys(self) -> None:
        """Which keys reach the LLM API: a call on a rotated key, or a refused one, is an event."""
        llm = next((n for n, c in self.state.components.items() if c["kind"] == "llm"), None)
        if llm is None:
            return
        stats = self._http.get(self.state.url(llm) + "/admin/stats",
                               headers={"X-Admin-Token": self.state.secret("llm_admin_token")}).json()
        keys = {"accepted_previous_key": stats.get("accepted_previous_key", 0),
                "rejected": stats.get("rejected_invalid", 0) + stats.get("rejected_auth", 0)}
        if self._changed(("llm",), keys):
            self.event("llm", "keys", keys)

    def _gateways(self) -> None:
        for name, _c in self._of("gateway"):
            try:
                s = self._http.get(self.state.url(name) + "/gateway/status").json()["secrets"]
            except (httpx.HTTPError, ValueError, KeyError):
                continue
            if self._changed(("gateway", name), s["reads"]):
                self.event("gateway", "key-refreshed", {"gateway": name, "reads": s["reads"],
                                                        "failures": s["failures"], "stale_served": s["stale_served"]})
