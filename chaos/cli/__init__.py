"""The nemesis's commands, one module per family; harness/cli.py names each command's module
and assembles `halab` from them (each is imported only when it runs).

    faults.py     `halab fault`, `halab faults`, `halab heal`
    measure.py    `halab measure`
    catalogue.py  the `halab chaos` group and `halab chaos list` (`chaos run` puts Locust's load
                  under the nemesis, so it lives in loadtests/chaos_run.py, a layer above)
    fidelity.py   `halab fidelity`
    explore.py    `halab explore` (what it keeps of a search: chaos/worst_schedules.py)
    attach.py     the running lab, or a usage error; a scenario's targets checked against it
    flows.py      the measured flows' table every measuring command prints
"""
