"""``activeloop``: the command line for simulations and for campaigns on one workstation."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from activeloop.errors import ActiveLoopError

app = typer.Typer(
    help="Lab-in-the-loop active learning for protein variants.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)

DEFAULT_RUNS = Path("activeloop-runs")


def _fail(exc: Exception) -> None:
    err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
    raise typer.Exit(2)


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details.")] = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")


@app.command()
def simulate(
    landscape: Annotated[str, typer.Option(help="Known landscape name (gb1) or a CSV path.")] = "gb1",
    seeds: Annotated[int, typer.Option(min=1, help="Independent campaigns (seeds 0..N-1).")] = 3,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds after the initial batch.")] = 4,
    batch: Annotated[int, typer.Option(min=1, help="Proposals per round.")] = 96,
    init: Annotated[int, typer.Option(min=2, help="Random variants measured first.")] = 96,
    strategy: Annotated[str, typer.Option(help="Acquisition strategy.")] = "thompson",
    surrogate: Annotated[str, typer.Option(help="Surrogate model.")] = "gp_epistasis",
    encoding: Annotated[str, typer.Option(help="Feature encoding.")] = "onehot",
    transform: Annotated[str, typer.Option(help="Target transform: none or rank.")] = "rank",
    baseline: Annotated[bool, typer.Option(help="Also run the random baseline.")] = True,
    parent: Annotated[str | None, typer.Option(help="Parent sequence of the CSV's variants.")] = None,
    sites: Annotated[str | None, typer.Option(help="Comma-separated 1-based sites of the CSV.")] = None,
    run_dir: Annotated[Path | None, typer.Option(help="Where to write (default: a new dir under ./activeloop-runs).")] = None,
    summary_json: Annotated[Path | None, typer.Option(help="Also write the summary JSON here.")] = None,
) -> None:
    """Simulate campaigns on a measured landscape (the oracle reveals only what is proposed)."""
    from activeloop.local.report import run_simulation

    try:
        site_tuple = tuple(int(s) for s in sites.split(",")) if sites else ()
        out = run_dir or DEFAULT_RUNS / (
            f"simulate-{Path(landscape).stem}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}"
        )
        summary = run_simulation(
            landscape,
            out,
            seeds=seeds,
            rounds=rounds,
            batch=batch,
            init=init,
            strategy=strategy,
            surrogate=surrogate,
            encoding=encoding,
            transform=transform,
            baseline=baseline,
            parent=parent,
            sites=site_tuple,
            console=console,
        )
    except ActiveLoopError as exc:
        _fail(exc)
    if summary_json:
        summary_json.parent.mkdir(parents=True, exist_ok=True)
        summary_json.write_text(json.dumps(summary["strategy_summary"], indent=2))
    console.print(f"results in {out}")


@app.command()
def init(
    spec: Annotated[Path, typer.Argument(help="Campaign YAML (a CampaignSpec or a Campaign resource).")],
    run_dir: Annotated[Path, typer.Option(help="Directory that will hold the campaign's state.")] = Path("campaign"),
) -> None:
    """Start a campaign in RUN_DIR from a campaign spec."""
    from activeloop.local.campaign import init_campaign

    try:
        s = init_campaign(spec, run_dir)
    except (ActiveLoopError, OSError) as exc:
        _fail(exc)
    console.print(f"campaign started in {run_dir}: {len(s.parent_sequence)} aa parent, "
                  f"{s.rounds} rounds of {s.acquisition.batch_size}")


@app.command()
def propose(
    run_dir: Annotated[Path, typer.Option(help="The campaign's directory.")] = Path("campaign"),
    force: Annotated[bool, typer.Option(help="Start a new round even if the last one awaits results.")] = False,
) -> None:
    """Tune on what is recorded and write the next batch to assay as CSV."""
    from activeloop.local.campaign import propose as do_propose

    try:
        p = do_propose(run_dir, force=force)
    except ActiveLoopError as exc:
        _fail(exc)
    if p.new:
        console.print(f"round {p.round}: {p.record.get('proposed')} variants proposed -> {p.path}")
    else:
        console.print(f"round {p.round} is still waiting for its results: {p.path} (use --force for a new round)")


@app.command()
def record(
    results: Annotated[Path, typer.Argument(help="CSV with 'variant' and 'value' columns.")],
    run_dir: Annotated[Path, typer.Option(help="The campaign's directory.")] = Path("campaign"),
    value_column: Annotated[str | None, typer.Option(help="Column holding the measured value.")] = None,
) -> None:
    """Validate and record assay results; nothing is recorded if any row is bad."""
    from activeloop.local.campaign import record as do_record

    try:
        n = do_record(run_dir, results, value_column)
    except (ActiveLoopError, OSError) as exc:
        _fail(exc)
    console.print(f"recorded {n} measurements from {results}")


@app.command()
def status(
    run_dir: Annotated[Path, typer.Option(help="The campaign's directory.")] = Path("campaign"),
) -> None:
    """Rounds, measured and pending variants, and the best so far."""
    from activeloop.local.campaign import status as do_status

    try:
        st = do_status(run_dir)
    except (ActiveLoopError, KeyError) as exc:
        _fail(exc)
    table = Table(title=f"{run_dir}: {st['measured']} variants measured")
    for col in ("round", "proposed", "measured", "pending"):
        table.add_column(col, justify="right")
    for r in st["rounds"]:
        table.add_row(*(str(r[c]) for c in ("round", "proposed", "measured", "pending")))
    console.print(table)
    for b in st["best"]:
        console.print(f"  {b['variant']:<24} {b['value']:.4g}")


@app.command()
def crds(
    out: Annotated[Path, typer.Option(help="Directory to write the CRD YAML files into.")] = Path("crds"),
) -> None:
    """Write the CustomResourceDefinitions generated from the API models."""
    from activeloop.api.crds import write_all

    for path in write_all(out):
        console.print(str(path))


if __name__ == "__main__":
    app()
