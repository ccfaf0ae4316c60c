"""`halab cpu`: the CPU each request costs each component of the running lab, for the model."""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.scenario import POLICY_UPDATE, RAG_QUERY


@click.command()
@click.option("--rps", default=10.0, show_default=True, help="Rate of each flow's load (requests per second).")
@click.option("--duration", default=30.0, show_default=True, help="Seconds of each flow's load, and of the idle span.")
@click.option("--flow", "flows", multiple=True, default=(RAG_QUERY, POLICY_UPDATE), show_default=True,
              type=click.Choice([RAG_QUERY, POLICY_UPDATE]), help="Flows to measure, one after another.")
@click.option("--out", type=click.Path(dir_okay=False), default="cpu-params.json", show_default=True,
              help="Parameter file to write; an existing one (from `halab calibrate`) keeps its other entries.")
def cpu(rps: float, duration: float, flows: tuple[str, ...], out: str) -> None:
    """Measure CPU seconds per request per component on the running lab.

    Each flow alone at --rps for --duration; each container's cgroup CPU counter over the load,
    less its idle burn over as long, over the requests completed. The measuring client's own CPU
    is `client`. Writes the model's `cpu_s` (with `cpu: host` and this machine's cores) into
    --out: `halab capacity --params OUT` then predicts the lab's knee on this host.
    """
    from harness.clients.cpu_demand import demand
    from harness.topology import attach
    from harness.topology.realise import StartupError

    try:
        lab = attach()
    except StartupError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        found = demand(lab, flows, rps=rps, duration_s=duration, progress=lambda m: click.echo(m, err=True))
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    path = Path(out)
    params = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    params.update({k: v for k, v in found.items() if k != "measured"})
    path.write_text(json.dumps(params, indent=2) + "\n", encoding="utf-8")
    for flow, kinds in found["cpu_s"].items():
        seen = found["measured"]["flows"][flow]
        click.echo(f"{flow}: {seen['completed']} completed of {seen['requests']} ({seen['dropped']} dropped), "
                   f"host cores busy {seen['host_cores_busy']}")
        for kind, s in sorted(kinds.items(), key=lambda kv: -kv[1]):
            click.echo(f"  {kind:12s} {1000 * s:8.2f} ms CPU per request")
    click.echo(f"idle cores in use: {sum(found['measured']['idle_cores'].values()):.3f}")
    click.echo(f"wrote {path}")
