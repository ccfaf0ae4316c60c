"""Clients (Jepsen's role): operations against a running lab, each recorded as an `invoke`
and a completion in the history format of harness/history.py.

    recorder.py       one history, appended from many threads
    server_timing.py  the services' Server-Timing headers -> an operation's steps
    lab.py            rag_query and policy_update through the VIP, classified ok / fail / info
    driver.py         open-loop Poisson arrivals following a scenario's load
    measure.py        a fault-free scenario against the lab -> a run directory (`halab measure`)

The loads of loadtests/ (Locust) and the nemesis of chaos/ use the same clients and recorder,
so every measured history has one shape, the one simulation/ predicts.
"""
