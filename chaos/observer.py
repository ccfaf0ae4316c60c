"""System events into the history while a run goes on (the events harness/history.py names):

    haproxy      server-down / server-up   {"server", "lb"}       HAProxy's stats CSV, per LB
    raft-etcd    leader                    {"leader": name|None}  etcd's maintenance status
    raft-vault   leader                    {"leader": name|None}  OpenBao's sys/health
    policy_sync  revision                  {"site", "revision"}   policy_sync /status (the etcd revision OPA has)
    gateway      key-refreshed             {"gateway", "reads", "failures", "stale_served"}
    vrrp         master                    {"lb"}                 keepalived's log, per LB (with `docker`)
    llm          keys                      {"accepted_previous_key", "rejected": n}  the LLM API's counters

Each source is polled on a thread of its own every POLL_S, so a dead etcd member's timeouts
do not delay HAProxy's marks; only changes become events, and a policy_sync answering again
after unanswered polls (restarted, or back from a cut), changed or not: its restart's first
full sync is then in the history even when no update came meanwhile (checkers.after_heal).
After the run, `policy_loads` turns the revisions into a `policy-loaded` event {"site",
"revision", "delay_s"} per acknowledged update and site, the delay since the ack to within
POLICY_POLL_S plus one status call: done afterwards, because a load generator in another
process (Locust) hands its acknowledgements over only at its end.
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
from harness.topology import trust
from harness.topology.state import State

POLL_S = 0.25
# policy_sync's /status is cheap and propagation takes milliseconds: poll it faster, or the
# observer's own period would be most of the delay it reports.
POLICY_POLL_S = 0.02
TIMEOUT_S = 0.5


class Observer:
    def __init__(self, state: State, event: Callable[[str, str, dict], Op], now: Callable[[], float], docker=None) -> None:
        self.state, self.event, self.now, self.docker = state, event, now, docker
        self._stop = threading.Event()
        sources = ((self._haproxy, POLL_S), (self._etcd, POLL_S), (self._vault, POLL_S),
                   (self._policy_sync, POLICY_POLL_S), (self._gateways, POLL_S), (self._vrrp, 2 * POLL_S),
                   (self._llm_keys, 2 * POLL_S))
        self._threads = [threading.Thread(target=self._loop, args=(fn, period), daemon=True,
                                          name=f"observe-{fn.__name__}") for fn, period in sources]
        self._last: dict[tuple, object] = {}
        self._unanswered: set[str] = set()  # policy_syncs whose last poll failed
        self._http = trust.client(state, timeout=TIMEOUT_S)

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

    def _haproxy(self) -> None:
        for c in self.state.of_kind("lb"):
            try:
                text = self._http.get(f"http://{c.address}:{MONITOR_PORT}/stats;csv").text
            except httpx.HTTPError:
                continue  # an LB down: its marks stop, the other LB's go on
            for row in csv.DictReader(io.StringIO(text.lstrip("# "))):
                if row.get("pxname") != "gateways" or row.get("svname") in ("FRONTEND", "BACKEND"):
                    continue
                up = row.get("status", "").startswith("UP")
                if self._changed(("haproxy", c.name, row["svname"]), up):
                    self.event("haproxy", "server-up" if up else "server-down", {"server": row["svname"], "lb": c.name})

    def _etcd(self) -> None:
        leader = raft.etcd_leader(self.state)
        if self._changed(("raft-etcd",), leader):
            self.event("raft-etcd", "leader", {"leader": leader})

    def _vault(self) -> None:
        active = raft.bao_active(self.state)
        if self._changed(("raft-vault",), active):
            self.event("raft-vault", "leader", {"leader": active})

    def _policy_sync(self) -> None:
        for c in self.state.of_kind("policy_sync"):
            try:
                r = self._http.get(self.state.url(c.name) + "/status", extensions=trust.named(self.state, c.name))
                revision = int(r.json()["revision"])
            except (httpx.HTTPError, ValueError, KeyError):
                self._unanswered.add(c.name)
                continue
            back = c.name in self._unanswered
            self._unanswered.discard(c.name)
            if self._changed(("policy_sync", c.name), revision) or back:
                self.event("policy_sync", "revision", {"site": c.site, "revision": revision})

    def _vrrp(self) -> None:
        """The LB whose keepalived last logged MASTER for the VIP (the images carry no `ip`)."""
        if self.docker is None:
            return
        for c in self.state.of_kind("lb"):
            try:
                ctr = self.docker.containers.get(c.container)
                lines = [ln for ln in ctr.logs(tail=50).decode(errors="replace").splitlines() if "halab_vip" in ln]
            except Exception:  # noqa: BLE001 - a killed LB has no logs to read this time
                continue
            master = bool(lines) and "MASTER" in lines[-1] and ctr.status == "running"
            if self._changed(("vrrp", c.name), master) and master:
                self.event("vrrp", "master", {"lb": c.name})

    def _llm_keys(self) -> None:
        """Which keys reach the LLM API: a call on a rotated key, or a refused one, is an event."""
        llm = next((c.name for c in self.state.of_kind("llm")), None)
        if llm is None:
            return
        stats = self._http.get(self.state.url(llm) + "/admin/stats", extensions=trust.named(self.state, llm),
                               headers={"X-Admin-Token": self.state.secret("llm_admin_token")}).json()
        keys = {"accepted_previous_key": stats.get("accepted_previous_key", 0),
                "rejected": stats.get("rejected_invalid", 0) + stats.get("rejected_auth", 0)}
        if self._changed(("llm",), keys):
            self.event("llm", "keys", keys)

    def _gateways(self) -> None:
        for name in [c.name for c in self.state.of_kind("gateway")]:
            try:
                s = self._http.get(self.state.url(name) + "/gateway/status",
                                   extensions=trust.named(self.state, name)).json()["secrets"]
            except (httpx.HTTPError, ValueError, KeyError):
                continue
            if self._changed(("gateway", name), s["reads"]):
                self.event("gateway", "key-refreshed", {"gateway": name, "reads": s["reads"],
                                                        "failures": s["failures"], "stale_served": s["stale_served"]})


def policy_loads(history: list[Op]) -> list[Op]:
    """A `policy-loaded` event per acknowledged update and site that reached it: at the first
    observation of a revision at or past the ack's, delayed from the ack (0 when the site had
    it before the ack arrived). Sites with several policy_syncs count the first to have it.

    >>> acked = Op(1, "ok", "policy_update", value={"revision": 7}, time=1.0, latency=0.1)
    >>> seen = [Op("policy_sync", "info", "revision", value={"site": s, "revision": r}, time=t)
    ...         for s, r, t in (("dc1", 6, 0.5), ("dc1", 7, 0.98), ("dc2", 7, 1.25), ("dc2", 9, 2.0))]
    >>> [(e.value["site"], e.value["delay_s"], e.time) for e in policy_loads(sorted([acked, *seen], key=lambda o: o.time))]
    [('dc1', 0.0, 1.0), ('dc2', 0.25, 1.25)]
    """
    acks = [(op.time, op.value["revision"]) for op in history if op.f == "policy_update" and op.type == "ok"
            and isinstance(op.value, dict) and isinstance(op.value.get("revision"), int)]
    seen: dict[str, list[tuple[float, int]]] = {}
    for op in history:
        if op.process == "policy_sync" and op.f == "revision":
            seen.setdefault(op.value["site"], []).append((op.time, op.value["revision"]))
    out = []
    for site, observations in sorted(seen.items()):
        for ack_time, revision in acks:
            first = next((t for t, r in observations if r >= revision), None)
            if first is not None:
                at = max(first, ack_time)
                out.append(Op("policy_sync", "info", "policy-loaded", time=at,
                              value={"site": site, "revision": revision, "delay_s": round(at - ack_time, 4)}))
    return out
