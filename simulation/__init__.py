"""The SimPy model: predictions from the same spec and the same scenario as the harness.

    from harness.spec import preset
    from scenarios.catalogue import entry
    from simulation.run import simulate

    result = simulate(preset("seed"), entry("dc2-down@200/3600").scenario, seed=1)
    result.history()        # harness.history.Op list: the format the harness measures
    result.availability()   # scenarios.checkers, the same functions that score a measurement

Modules, one concept each:
    params.py      service times per component kind (sources cited), protocol timings from the spec
    components.py  Station (an exact FCFS c-server queue without Resource events), KeyCache, PolicySync
    network.py     the WAN from the spec's links: reachability, latency + jitter, cuts
    quorum.py      Raft groups (etcd, OpenBao; the vector store is leaderless): quorum arithmetic, elections
    lb.py          HAProxy health checks, routing, drain and pooled connections; keepalived VRRP
    flows.py       the RAG query (14 steps), the policy update (9 steps), the ingest
    policy.py      policy propagation: etcd watch -> policy_sync -> OPA, resync
    failures.py    faults as processes: scheduling and gating; each kind's model package in faults/
    restart.py     a restart as the nemesis does it: drain, stop, start, back in every LB
    model.py       builds all of the above from a spec
    run.py         arrivals from the load profile, the run, the Result (history, metrics)
    analytic.py    closed forms the model is checked against (Erlang C)
    calibrate.py   service times fitted from a measured history's step timings
    capacity.py    the rate x replicas sweep
    cli.py         `halab simulate`, `halab capacity`, `halab calibrate`

Speed (why the code is shaped as it is): a request yields only when it arrives at a queueing
station; everything between two stations is one timeout; failures are computed, not waited
for; draws come in batches; requests run without simpy.Process. About 6 SimPy events per
request, some 40,000 simulated requests per CPU-second (tests/simulation/test_sim_benchmark.py).
"""
