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
    results: Annotated[Path, typer.Argument(help="CSV with 'variant' and 'value' (optional 'replicate') columns.")],
    run_dir: Annotated[Path, typer.Option(help="Local mode: the campaign's directory.")] = Path("campaign"),
    value_column: Annotated[str | None, typer.Option(help="Column holding the measured value.")] = None,
    campaign: Annotated[str | None, typer.Option(help="Cluster mode: the Campaign's name.")] = None,
    campaign_file: Annotated[Path | None, typer.Option(help="Campaign YAML to validate against (else read from the cluster).")] = None,
    round_number: Annotated[int | None, typer.Option("--round", min=1, help="Round whose proposals were assayed.")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Print manifests: yaml.")] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Create the AssayResults in the cluster.")] = False,
    name: Annotated[str | None, typer.Option(help="AssayResult name (default: the file's name).")] = None,
    unit: Annotated[str | None, typer.Option(help="Unit of the values.")] = None,
    supersedes: Annotated[list[str] | None, typer.Option(help="AssayResults this one corrects.")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", help="Cluster namespace.")] = None,
) -> None:
    """Validate and record assay results; nothing is recorded if any row is bad.

    Local mode appends to the campaign in RUN_DIR. With --campaign, the plate becomes AssayResult
    manifests: printed (-o yaml, for GitOps) or created in the cluster (--apply).
    """
    if campaign is None:
        from activeloop.local.campaign import record as do_record

        try:
            n = do_record(run_dir, results, value_column)
        except (ActiveLoopError, OSError) as exc:
            _fail(exc)
        console.print(f"recorded {n} measurements from {results}")
        return
    from activeloop import clusterops
    from activeloop.plates import assay_manifests, plate_measurements, read_plate

    if (output is None) == (not apply):
        _fail(ActiveLoopError("with --campaign give exactly one of -o yaml or --apply"))
    if output not in (None, "yaml"):
        _fail(ActiveLoopError(f"--output {output!r}: only yaml is supported"))
    try:
        ns = clusterops.namespace(namespace) if apply or campaign_file is None else namespace
        spec, library = clusterops.campaign_spec(campaign, ns, campaign_file)
        rows = plate_measurements(read_plate(results), spec, str(results), library, value_column)
        docs = assay_manifests(campaign, rows, name=name or f"{campaign}-{results.stem}",
                               round_number=round_number, unit=unit, supersedes=supersedes,
                               namespace=ns)
    except (ActiveLoopError, OSError) as exc:
        _fail(exc)
    if output == "yaml":
        import yaml

        typer.echo(yaml.safe_dump_all(docs, sort_keys=False), nl=False)
        return
    try:
        for doc in docs:
            clusterops.create_assay(doc, ns)
            console.print(f"created assayresult/{doc['metadata']['name']} ({len(doc['spec']['measurements'])} measurements)")
    except ActiveLoopError as exc:
        _fail(exc)


@app.command()
def proposals(
    campaign: Annotated[str, typer.Argument(help="The Campaign's name.")],
    round_number: Annotated[int, typer.Option("--round", min=1, help="Round number.")],
    output: Annotated[str, typer.Option("--output", "-o", help="csv or yaml.")] = "csv",
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", help="Cluster namespace.")] = None,
) -> None:
    """Export a round's proposals (the batch to send to the lab)."""
    from activeloop import clusterops

    try:
        props = clusterops.proposals(campaign, round_number, clusterops.namespace(namespace))
    except ActiveLoopError as exc:
        _fail(exc)
    if output == "yaml":
        import yaml

        typer.echo(yaml.safe_dump({"campaign": campaign, "round": round_number, "variants": props}), nl=False)
    else:
        typer.echo("variant,rank")
        for i, v in enumerate(props, start=1):
            typer.echo(f"{v},{i}")


@app.command()
def status(
    campaign: Annotated[str | None, typer.Argument(help="Cluster mode: the Campaign's name.")] = None,
    run_dir: Annotated[Path, typer.Option(help="Local mode: the campaign's directory.")] = Path("campaign"),
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", help="Cluster namespace.")] = None,
) -> None:
    """Rounds, best variants so far, pending proposals and running steps."""
    if campaign is not None:
        from activeloop import clusterops

        try:
            st = clusterops.campaign_status(campaign, clusterops.namespace(namespace))
        except ActiveLoopError as exc:
            _fail(exc)
        c = st["campaign"]
        console.print(f"campaign {campaign}: {c.get('phase', '?')}, round {c.get('currentRound', 0)}, "
                      f"{c.get('measured', 0)} measured, {c.get('proposalsPending', 0)} proposals pending",
                      highlight=False)
        if c.get("bestVariant"):
            console.print(f"best so far: {c['bestVariant']} ({c.get('bestValue'):.4g})", highlight=False)
        table = Table(title="rounds")
        for col in ("round", "phase", "proposed", "measured", "tune", "acquire"):
            table.add_column(col)
        for r in st["rounds"]:
            table.add_row(str(r["round"]), r["phase"], str(r["proposed"]), str(r["measured"]),
                          r["tune"], r["acquire"])
        console.print(table)
        return
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


@app.command("bench-models")
def bench_models(
    task: Annotated[str, typer.Option(help="Landscape CSV (variant + fitness columns) or a known name (blat, gb1).")],
    models: Annotated[str, typer.Option(help="Comma-separated models, e.g. ridge:onehot,lora:unirep=64,student-cnn*4.")],
    train: Annotated[int, typer.Option(min=10, help="Variants to fit on (the rest are held out).")] = 500,
    test: Annotated[int | None, typer.Option(min=10, help="Held-out variants to score (default: all the rest).")] = None,
    teacher: Annotated[str | None, typer.Option(help="Model the students learn from (default: the most accurate).")] = None,
    tolerance: Annotated[float, typer.Option(min=0.0, help="Spearman below the best still good enough.")] = 0.02,
    top_k: Annotated[int, typer.Option(min=1, help="k of top-k recall.")] = 50,
    epochs: Annotated[int, typer.Option(min=1, help="Tuning epochs (LoRA; students use at least 20).")] = 10,
    threads: Annotated[int, typer.Option(min=1, help="Torch threads per model (same for all, for fair compute).")] = 1,
    country: Annotated[str, typer.Option(help="ISO 3166 alpha-3 code for the grid's carbon intensity.")] = "USA",
    seed: Annotated[int, typer.Option(help="Seed of the split and of training.")] = 0,
    parent: Annotated[str | None, typer.Option(help="Parent sequence of the CSV's mutations.")] = None,
    fitness_column: Annotated[str | None, typer.Option(help="Fitness column of the CSV.")] = None,
    variant_column: Annotated[str | None, typer.Option(help="Variant column of the CSV.")] = None,
    first_position: Annotated[int | None, typer.Option(help="Number of the parent's first residue in the CSV's mutations.")] = None,
    out: Annotated[Path, typer.Option(help="Directory for leaderboard.csv/.json/.png.")] = DEFAULT_RUNS / "bench-models",
) -> None:
    """Accuracy against compute, energy and memory for several models; names the smallest good enough."""
    from activeloop.modelbench import TaskSpec, format_row, run_bench

    spec = TaskSpec(task, train=train, test=test, seed=seed, parent=parent,
                    variant_column=variant_column, fitness_column=fitness_column,
                    first_position=first_position)
    names = [m for m in models.split(",") if m.strip()]
    try:
        board = run_bench(spec, names, out, teacher=teacher, tolerance=tolerance, epochs=epochs,
                          threads=threads, top_k=top_k, country=country,
                          on_row=lambda row: console.print(format_row(row), highlight=False))
    except ActiveLoopError as exc:
        _fail(exc)
    console.print(f"best: {board.best}; smallest within {board.tolerance} Spearman of it: "
                  f"[bold]{board.choice}[/bold]", highlight=False)
    console.print(f"energy: {board.table['energy_method'].iloc[0]}; wrote {board.files['csv']}, "
                  f"{board.files['plot']}", highlight=False)


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
