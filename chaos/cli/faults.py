"""`halab fault`, `halab faults`, `halab heal`: one fault by hand on the running lab, the faults
active on it, and everything healed."""

from __future__ import annotations

import time

import click

from chaos.cli.attach import running_lab
from harness.faults import FAULT_KINDS


def _options(pairs: tuple[str, ...]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--option")
        try:
            out[key] = float(value)
        except ValueError:
            out[key] = value
    return out


_KINDS_HELP = "\n".join(f"  {k.name:<18} ({k.target}) {k.help}" for k in FAULT_KINDS.values())


@click.command(epilog="\b\nFault kinds (target type):\n" + _KINDS_HELP)
@click.argument("kind", type=click.Choice(sorted(FAULT_KINDS)), metavar="KIND")
@click.argument("target", default="")
@click.option("--for", "for_s", type=float, help="Heal after this many seconds (else it stays until `halab heal`).")
@click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE",
              help="Fault option, e.g. -o mode=reject, -o latency_ms=100 -o jitter_ms=50.")
def fault(kind: str, target: str, for_s: float | None, options: tuple[str, ...]) -> None:
    """Inject one fault into the running lab. TARGET is a site, node, component, kind or link
    ("dc1,dc2", "dc1->dc2", "dc2") as the kind needs; faults on the leader or the LLM take none."""
    from chaos.nemesis import Nemesis
    from harness.faults import TargetError

    lab = running_lab()
    n = Nemesis(lab)
    t0 = time.monotonic()
    try:
        f = n.start(kind, target, _options(options))
    except TargetError as exc:
        raise click.BadParameter(str(exc), param_hint="TARGET") from None
    click.echo(f"{kind} {target}: {f.what} (in {time.monotonic() - t0:.1f} s; id {f.id})")
    if for_s is None:
        click.echo("active until `halab heal`")
        return
    try:
        time.sleep(for_s)
    finally:
        t1 = time.monotonic()
        n.stop(f)
        click.echo(f"healed in {time.monotonic() - t1:.1f} s")


@click.command()
def faults() -> None:
    """List the faults active on the running lab."""
    from chaos.nemesis import Nemesis

    active = Nemesis(running_lab()).active()
    if not active:
        click.echo("no active faults")
    for f in active:
        click.echo(f"{f.id:<12} {f.kind:<18} {f.target:<12} {time.time() - f.started_at:7.0f} s  {f.what}")


@click.command()
def heal() -> None:
    """Heal everything: active faults undone, proxies enabled, fault toxics removed, packet
    rules flushed, containers unpaused and started, OpenBao unsealed. Idempotent."""
    from chaos.nemesis import Nemesis

    t0 = time.monotonic()
    done = Nemesis(running_lab()).heal_all()
    click.echo(f"healed {len(done)} fault(s){': ' + ', '.join(done) if done else ''}; "
               f"lab swept in {time.monotonic() - t0:.1f} s")
