"""Which connections cross the WAN: from the spec's TALKS_TO and the sites alone (no ports).

    >>> from harness.spec import preset
    >>> sorted({x.server for x in crossings(preset("seed"))})
    ['etcd1', 'etcd2', 'gateway1', 'gateway2', 'llm', 'mongo', 'vault1', 'vault2', 'vectordb1', 'vectordb2']

The rules:
- peers of every replicated kind talk to every other member (etcd Raft, OpenBao Raft,
  vector replication);
- a client whose own site has no server of a kind it talks to reaches all of them (apps ->
  the external "Atlas", gateways -> the LLM API, the edge's LBs -> every gateway);
- failover targets: a client reaches the other sites' servers of a `failover` kind too (rag ->
  the other DC's gateway for the hairpin, and its vector node).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.kinds import KINDS
from harness.spec import TALKS_TO, Topology


@dataclass(frozen=True)
class Crossing:
    client: str
    client_site: str
    server: str
    server_site: str
    server_kind: str
    peer: bool  # Raft-style peer traffic (uses the kind's peer ports)

    @property
    def what(self) -> str:
        label = KINDS[self.server_kind].peer_words if self.peer else f"{self.client.rstrip('0123456789')} -> {self.server_kind}"
        return f"{label}: {self.client} ({self.client_site}) -> {self.server} ({self.server_site})"


def crossings(t: Topology) -> tuple[Crossing, ...]:
    out: list[Crossing] = []
    for client in t.components:
        csite = t.site_of(client.name)
        for kind in TALKS_TO.get(client.kind, ()):
            servers = t.components_of(kind)
            peer = kind == client.kind and KINDS[kind].replicated
            has_local = any(t.site_of(s.name) == csite for s in servers if s.name != client.name)
            for server in servers:
                ssite = t.site_of(server.name)
                if ssite == csite or server.name == client.name:
                    continue
                if peer or not has_local or KINDS[kind].failover:
                    out.append(Crossing(client.name, csite, server.name, ssite, kind, peer))
    return tuple(out)


def wan_servers(t: Topology) -> frozenset[str]:
    """Components some other site dials: these need ports no other such component uses."""
    return frozenset(x.server for x in crossings(t))
