"""The Prometheus configuration of `halab up --with-metrics`, from the plan alone (no Docker).

One job per kind that the kind table gives metrics (harness/kinds.py `metrics`), one target
per component, labelled with its `component` and `site`:

    >>> from harness.spec import preset
    >>> from harness.topology.plan import Plan
    >>> jobs = {j["job_name"]: j for j in scrape_configs(Plan.of(preset("seed"), run_id="demo"))}
    >>> jobs["etcd"]["static_configs"][1]["labels"], jobs["vault"]["params"]
    ({'component': 'etcd2', 'site': 'dc2'}, {'format': ['prometheus']})
    >>> jobs["rag"]["scheme"], "scheme" in jobs["etcd"]          # etcd's metrics port is plain HTTP
    ('https', False)

Prometheus sits on every site's network and scrapes each component at its container name,
not through the WAN proxies: it is the lab's observer, like the nemesis's, so a WAN
partition does not blind it. A production Prometheus per DC, federated, would lose sight
of the other DC during a partition; queries here see both sides throughout.
MongoDB (Atlas, a managed service) has no target: Atlas's metrics come from Atlas's API.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from harness.kinds import KINDS, role_port
from harness.topology.plan import Plan

SCRAPE_INTERVAL = "2s"  # a DC2 kill shows within a few seconds
SCRAPE_TIMEOUT = "1500ms"
CA_FILE = "/etc/prometheus/ca.pem"  # the run's CA, for the targets that serve HTTPS
CLIENT_FILES = ("/etc/prometheus/cert.pem", "/etc/prometheus/key.pem")  # for the targets that ask


def scrape_configs(plan: Plan) -> list[dict]:
    jobs: dict[str, dict] = {}
    for p in plan.placements:
        k = KINDS[p.kind]
        if k.metrics is None:
            continue
        role, path = k.metrics
        url = urlsplit(path)
        job = jobs.setdefault(p.kind, {"job_name": p.kind, "metrics_path": url.path, "static_configs": []})
        if role in k.tls:  # dialled at the container name, which the component's certificate covers
            job |= {"scheme": "https", "tls_config": {"ca_file": CA_FILE}}
            if k.mutual:
                job["tls_config"] |= {"cert_file": CLIENT_FILES[0], "key_file": CLIENT_FILES[1]}
        if url.query:
            job["params"] = parse_qs(url.query)
        job["static_configs"].append({"targets": [f"{p.container}:{role_port(role, p.ports)}"],
                                      "labels": {"component": p.name, "site": p.site}})
    return list(jobs.values())


def config_text(plan: Plan) -> str:
    """prometheus.yml (JSON, which YAML reads as is)."""
    return json.dumps({
        "global": {"scrape_interval": SCRAPE_INTERVAL, "scrape_timeout": SCRAPE_TIMEOUT,
                   "external_labels": {"halab_run": plan.run_id, "preset": plan.topology.name}},
        "scrape_configs": scrape_configs(plan),
    }, indent=2) + "\n"


def expected_targets(plan: Plan) -> set[str]:
    """The `component` labels of every target: what `up` must show as 1."""
    return {t["labels"]["component"] for job in scrape_configs(plan) for t in job["static_configs"]}
