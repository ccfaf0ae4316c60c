"""The nemesis (Jepsen's role): faults with a start and a heal, always healed.

    harness/faults.py  the fault kinds and the one target resolver (shared with the model)
    ledger.py          active faults and how to undo each, in a file beside the state file
    netns.py           iptables in a container's network namespace (blackholes, refusals, loss)
    network.py         site blackholes, partitions, packet loss, Toxiproxy toxics
    process.py         kill, pause, restart; health and unseal after a start
    raft.py            the etcd leader and the active OpenBao node, asked of the systems
    llm.py             LLM API faults through the stub's admin API; key rotation
    faults/            each fault kind's lab package (start -> undo steps), by name; the undo steps
    nemesis.py         start(kind, target) -> an active fault; heal(); heal_all()
    observer.py        system events into the history: HAProxy, leaders, policy_sync, key refreshes
    schedule.py        a scenario's faults run in time with its load

Example (needs a running lab)::

    with Nemesis(attach()) as n:
        n.start("site-down", "dc2"); ...; n.heal_all()
"""
