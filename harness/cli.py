"""The `halab` command line.

Each command lives in the module of the part it drives and is imported only when it runs,
so `halab --help` stays fast and one broken part does not take the others down.
"""

from __future__ import annotations

import importlib

import click

# name -> (module:attribute, one-line help). Adding a command is one line here.
COMMANDS: dict[str, tuple[str, str]] = {
    "doctor": ("harness.doctor:doctor", "Check that a Docker engine answers; on Debian as root, install and start one."),
    "images": ("harness.images.cli:images", "Build, list and check the image of every component."),
    "up": ("harness.topology.cli:up", "Start a two-datacenter topology and seed it."),
    "status": ("harness.topology.cli:status", "Show the running topology: components, health, WAN proxies."),
    "down": ("harness.topology.cli:down", "Remove every container, network and volume halab started."),
    "measure": ("chaos.cli.measure:measure", "Measure a scenario (load + its faults) on the running lab; write a run directory."),
    "load": ("loadtests.cli:load", "Put Locust's load (open model, shapes, workers) on the running lab, faults included."),
    "fault": ("chaos.cli.faults:fault", "Inject one fault into the running lab (site-down, partition, leader kill, ...)."),
    "faults": ("chaos.cli.faults:faults", "List the faults active on the running lab."),
    "heal": ("chaos.cli.faults:heal", "Heal every fault on the running lab (idempotent)."),
    "chaos": ("chaos.cli.catalogue:chaos", "The chaos catalogue: `halab chaos list`, `halab chaos run NAME`."),
    "explore": ("chaos.cli.explore:explore", "Search the model for the fault schedules that hurt most; shrink, write, replay."),
    "fidelity": ("chaos.cli.fidelity:fidelity", "Measure scenarios N times, predict each with the calibrated model; error per metric."),
    "simulate": ("simulation.cli:simulate", "Predict a scenario's history with the SimPy model."),
    "capacity": ("simulation.cli:capacity", "Sweep rate and replicas; print p95 and utilisation per component."),
    "capacity-measure": ("chaos.cli.capacity:capacity_measure", "Measure the running lab's capacity: rate steps, then bisection at the knee."),
    "cpu": ("harness.clients.cpu_cli:cpu", "Measure the CPU each request costs each component of the running lab (the model's cpu_s)."),
    "calibrate": ("simulation.cli:calibrate", "Fit service times from a measured run into a parameter file."),
    "propagation": ("simulation.cli:propagation", "Fit policy propagation from its benchmark; predict each row."),
    "demo": ("loadtests.demo:demo", "The whole story: up, DC2 down under load with its prediction, report, down."),
    "report": ("reports.cli:report", "Write a self-contained HTML report of a run, an index of runs, or a capacity plan."),
}
# group -> {name: module:attribute}: commands a layer above the group's own adds to it, so no
# module imports the layer above it. `chaos run` may put Locust's load under the nemesis.
SUBCOMMANDS: dict[str, dict[str, str]] = {
    "chaos": {"run": "loadtests.chaos_run:chaos_run"},
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        target, help_text = COMMANDS[name]
        try:
            command = _load(target)
        except _Missing as exc:
            return _unavailable(name, help_text, f"{exc} is not part of this checkout yet")
        for sub, sub_target in SUBCOMMANDS.get(name, {}).items():
            try:
                command.add_command(_load(sub_target), sub)
            except _Missing as exc:
                command.add_command(_unavailable(f"{name} {sub}", "", f"{exc} is not part of this checkout yet"), sub)
        return command


class _Missing(Exception):
    pass


def _load(target: str) -> click.Command:
    module_name, attr = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise _Missing(module_name) from None
        raise
    return getattr(module, attr)


def _unavailable(name: str, help_text: str, why: str) -> click.Command:
    def run() -> None:
        raise click.ClickException(f"'halab {name}' is not available: {why}.")

    return click.Command(name, callback=run, help=f"{help_text} (unavailable: {why})", short_help=help_text)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """halab: a two-datacenter RAG platform in Docker, its faults, its load, and its SimPy twin.

    Start with `halab doctor`, then `halab images build`, then `halab up`.
    """


if __name__ == "__main__":
    main()
