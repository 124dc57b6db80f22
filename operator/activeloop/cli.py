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
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DEFAULT_RUNS = Path("activeloop-runs")


def _fail(exc: Exception) -> None:
    err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
    raise typer.Exit(2)


def _version(value: bool) -> None:
    if value:
        from activeloop import __version__

        typer.echo(f"activeloop {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")


@app.command()
def simulate(
    landscape: Annotated[str, typer.Option(help="Known landscape name (gb1) or a CSV path.")] = "gb1",
    seeds: Annotated[int, typer.Option(min=1, help="Independent campaigns (seeds 0..N-1).")] = 3,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds after the initial batch.")] = 4,
    batch: Annotated[int, typer.Option(min=1, help="Proposals per round.")] = 96,
    init: Annotated[int, typer.Option(min=2, help="Variants measured first.")] = 96,
    start: Annotated[str, typer.Option(help="First batch: random (the ALDE protocol), zero-shot (the top by --scorer) or focused (at random in its top 2%, spread over sites).")] = "random",
    scorer: Annotated[str, typer.Option(help="Zero-shot scorer for --start and --prior: hamming, a language model (ESM-2 id or directory, unirep:1900), or a CSV of variant,score.")] = "hamming",
    prior: Annotated[bool, typer.Option(help="Give the surrogate the zero-shot scores as a prior (a learned weight).")] = False,
    jobs: Annotated[int, typer.Option(min=1, help="Seeds run in this many processes (the results do not change).")] = 1,
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
        if start not in ("random", "zero-shot", "focused"):
            raise ActiveLoopError(f"--start: {start!r}; use random, zero-shot or focused")
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
            start={"random": "random", "zero-shot": "zeroShot", "focused": "focused"}.get(start, start),
            scorer=scorer,
            prior=prior,
            jobs=jobs,
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
    console.print(f"campaign started in {run_dir}: {len(s.parent_sequence)} aa parent, first batch of "
                  f"{s.initial_batch_size}, then {s.rounds} rounds of {s.acquisition.batch_size}", highlight=False)


@app.command()
def propose(
    run_dir: Annotated[Path, typer.Option(help="The campaign's directory.")] = Path("campaign"),
    force: Annotated[bool, typer.Option(help="Close the latest round now, whatever is pending, and start the next.")] = False,
    jobs: Annotated[int, typer.Option(min=1, help="Processes scoring a sharded library's shards at once (acquisition.shards).")] = 1,
) -> None:
    """Start the next round when the latest one is complete, and write its batch to assay (CSV)."""
    from activeloop.local.campaign import open_campaign
    from activeloop.local.campaign import propose as do_propose

    def on_shard(record: dict) -> None:
        console.print(f"  shard {record['shard'] + 1} of {record['shards']}: {record['ranked']:,} candidates "
                      f"ranked in {record['seconds']:.1f} s (peak {record['peak_rss_mb']:.0f} MB)", highlight=False)

    try:
        p = do_propose(run_dir, force=force, jobs=jobs, on_shard=on_shard)
        _, spec = open_campaign(run_dir)
    except (ActiveLoopError, OSError) as exc:
        _fail(exc)
    if p.new:
        console.print(f"round {p.round} of {spec.total_rounds}: {p.record.get('proposed')} variants proposed "
                      f"-> {p.path}", highlight=False)
    else:
        need = p.progress.needed(spec.trigger)
        console.print(
            f"round {p.round} is waiting for results: {p.progress.done} of {p.progress.proposed} recorded "
            f"({p.progress.pending} pending; {need} needed to go on). Its batch: {p.path}\n"
            "Record plates with `activeloop record`, or close the round now with `activeloop close-round` "
            "(or `propose --force`).", highlight=False)


@app.command("close-round")
def close_round(
    campaign: Annotated[str | None, typer.Argument(help="Cluster mode: the Campaign's name.")] = None,
    run_dir: Annotated[Path, typer.Option(help="Local mode: the campaign's directory.")] = Path("campaign"),
    round_number: Annotated[int | None, typer.Option("--round", min=1, help="Cluster mode: the round (default: current).")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", help="Cluster namespace.")] = None,
) -> None:
    """Close the latest round now, whatever is still pending: the next round may start."""
    try:
        if campaign is None:
            from activeloop.local.campaign import close_round as do_close

            n = do_close(run_dir)
        else:
            from activeloop import clusterops

            n = clusterops.close_round(campaign, clusterops.namespace(namespace), round_number)
    except (ActiveLoopError, OSError) as exc:
        _fail(exc)
    console.print(f"round {n} closed; the next `activeloop propose` starts round {n + 1}"
                  if campaign is None else f"round {n} of {campaign} closed; the operator starts the next",
                  highlight=False)


@app.command()
def extend(
    rounds: Annotated[int, typer.Option(min=1, help="New number of rounds after the first batch.")],
    run_dir: Annotated[Path, typer.Option(help="The campaign's directory.")] = Path("campaign"),
) -> None:
    """Let a campaign run more rounds than its spec planned."""
    from activeloop.local.campaign import extend as do_extend

    try:
        spec = do_extend(run_dir, rounds)
    except (ActiveLoopError, OSError) as exc:
        _fail(exc)
    console.print(f"{run_dir}: now {spec.total_rounds} rounds in all (first batch + {spec.rounds})", highlight=False)


@app.command()
def record(
    results: Annotated[Path, typer.Argument(help="Plate: .csv/.tsv (',' ';' or tab) or .xlsx with a variant and a value column.")],
    run_dir: Annotated[Path, typer.Option(help="Local mode: the campaign's directory.")] = Path("campaign"),
    value_column: Annotated[str | None, typer.Option(help="Column holding the measured value (case-insensitive).")] = None,
    decimal: Annotated[str, typer.Option(help="Decimal mark of the values: '.' or ','.")] = ".",
    sheet: Annotated[str | None, typer.Option(help="Excel: the sheet to read (default: the first).")] = None,
    replicates: Annotated[str, typer.Option(help="How a variant's replicates combine: mean or median.")] = "mean",
    name: Annotated[str | None, typer.Option(help="Name of the recorded plate (default: from the file name).")] = None,
    supersede: Annotated[list[str] | None, typer.Option("--supersede", "--supersedes", help="Recorded plate(s) this one corrects.")] = None,
    campaign: Annotated[str | None, typer.Option(help="Cluster mode: the Campaign's name.")] = None,
    campaign_file: Annotated[Path | None, typer.Option(help="Campaign YAML to validate against (else read from the cluster).")] = None,
    round_number: Annotated[int | None, typer.Option("--round", min=1, help="Round whose proposals were assayed.")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Print manifests: yaml.")] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Create the AssayResults in the cluster.")] = False,
    unit: Annotated[str | None, typer.Option(help="Unit of the values.")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", help="Cluster namespace.")] = None,
) -> None:
    """Check every row of a plate and record them all, or nothing if any row is bad.

    Mark a failed well with a 'status' column saying 'failed' (or the value 'failed'). Recording
    the same plate twice records nothing the second time. Local mode records into RUN_DIR; with
    --campaign the plate becomes AssayResult manifests: printed (-o yaml, for GitOps) or created
    in the cluster (--apply).
    """
    from activeloop.steps import ingest

    if campaign is None:
        from activeloop.local.campaign import record as do_record

        try:
            out = do_record(run_dir, results, value_column, decimal=decimal, sheet=sheet, name=name,
                            supersede=tuple(supersede or ()), replicates=replicates)
        except (ActiveLoopError, OSError) as exc:
            _fail(exc)
        if not out.new:
            console.print(f"{results}: these results were recorded before (as {out.duplicate_of}); "
                          "nothing recorded", highlight=False)
            return
        failed = f", {out.failed} failed wells" if out.failed else ""
        corrects = f"; corrects {', '.join(out.supersedes)}" if out.supersedes else ""
        console.print(f"recorded {out.rows} measurements from {results} as {out.name}{failed}{corrects}",
                      highlight=False)
        return
    from activeloop import clusterops

    if (output is None) == (not apply):
        _fail(ActiveLoopError("with --campaign give exactly one of -o yaml or --apply"))
    if output not in (None, "yaml"):
        _fail(ActiveLoopError(f"--output {output!r}: only yaml is supported"))
    try:
        ns = clusterops.namespace(namespace) if apply or campaign_file is None else namespace
        spec, library = clusterops.campaign_spec(campaign, ns, campaign_file)
        rows = ingest.plate_rows(results, spec, library, value_column=value_column, decimal=decimal, sheet=sheet)
        docs = ingest.assay_manifests(campaign, rows, name=name or f"{campaign}-{results.stem}",
                                      round_number=round_number, unit=unit, replicates=replicates,
                                      supersedes=supersede or (), namespace=ns)
    except (ActiveLoopError, OSError) as exc:
        _fail(exc)
    if output == "yaml":
        import yaml

        typer.echo(yaml.safe_dump_all(docs, sort_keys=False), nl=False)
        return
    try:
        for doc in docs:
            made = clusterops.create_assay(doc, ns or "default")
            n = len(doc["spec"]["measurements"])
            console.print(f"created assayresult/{doc['metadata']['name']} ({n} measurements)" if made else
                          f"assayresult/{doc['metadata']['name']} holds these results already; nothing created",
                          highlight=False)
    except ActiveLoopError as exc:
        _fail(exc)


@app.command()
def proposals(
    campaign: Annotated[str | None, typer.Argument(help="Cluster mode: the Campaign's name.")] = None,
    round_number: Annotated[int | None, typer.Option("--round", min=1, help="Round number (default: the latest).")] = None,
    run_dir: Annotated[Path, typer.Option(help="Local mode: the campaign's directory.")] = Path("campaign"),
    output: Annotated[str, typer.Option("--output", "-o", help="csv or yaml.")] = "csv",
    layout: Annotated[int | None, typer.Option(help="Add plate and well columns for a 96- or 384-well plate.")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", help="Cluster namespace.")] = None,
) -> None:
    """Export a round's proposals (the batch to send to the lab)."""
    import pandas as pd

    from activeloop.steps.layout import plate_map

    try:
        if campaign is None:
            from activeloop.local.campaign import proposals as local_proposals

            number, props = local_proposals(run_dir, round_number)
            name = run_dir.name
        else:
            from activeloop import clusterops

            if round_number is None:
                raise ActiveLoopError("--round is needed with a cluster campaign")
            number, name = round_number, campaign
            variants = clusterops.proposals(campaign, round_number, clusterops.namespace(namespace))
            props = pd.DataFrame({"variant": variants, "rank": range(1, len(variants) + 1)})
        if layout is not None:
            props = plate_map(props, layout)
    except (ActiveLoopError, OSError, ValueError) as exc:
        _fail(exc)
    if output == "yaml":
        import yaml

        typer.echo(yaml.safe_dump({"campaign": name, "round": number,
                                   "proposals": props.to_dict("records")}, sort_keys=False), nl=False)
    else:
        typer.echo(props.to_csv(index=False), nl=False)


@app.command()
def status(
    campaign: Annotated[str | None, typer.Argument(help="Cluster mode: the Campaign's name.")] = None,
    run_dir: Annotated[Path, typer.Option(help="Local mode: the campaign's directory.")] = Path("campaign"),
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", help="Cluster namespace.")] = None,
) -> None:
    """Rounds (done and planned), pending proposals, and the best variants so far."""
    if campaign is not None:
        from activeloop import clusterops

        try:
            st = clusterops.campaign_status(campaign, clusterops.namespace(namespace))
        except ActiveLoopError as exc:
            _fail(exc)
        c = st["campaign"]
        console.print(f"campaign {campaign}: {c.get('phase', '?')}, round {c.get('currentRound', 0)} of "
                      f"{c.get('roundsPlanned', '?')}, {c.get('measured', 0)} measured, "
                      f"{c.get('proposalsPending', 0)} proposals pending", highlight=False)
        if c.get("bestVariant"):
            console.print(f"best so far: {c['bestVariant']} ({c.get('bestValue'):.4g})", highlight=False)
        table = Table(title="rounds")
        for col in ("round", "phase", "proposed", "measured", "failed", "pending", "tune", "acquire"):
            table.add_column(col)
        for r in st["rounds"]:
            table.add_row(*(str(r[k]) for k in ("round", "phase", "proposed", "measured", "failed",
                                                "pending", "tune", "acquire")))
        console.print(table)
        return
    from activeloop.local.campaign import status as do_status

    try:
        st = do_status(run_dir)
    except (ActiveLoopError, OSError) as exc:
        _fail(exc)
    table = Table(title=f"{run_dir}: round {len(st['rounds'])} of {st['rounds_planned']} planned; "
                        f"{st['measured']} variants measured, {st['failed']} failed")
    for col in ("round", "proposed", "measured", "failed", "pending", "state"):
        table.add_column(col, justify="right")
    for r in st["rounds"]:
        state = "closed" if r["closed"] else "complete" if r["complete"] else "waiting for results"
        table.add_row(*(str(r[c]) for c in ("round", "proposed", "measured", "failed", "pending")), state)
    console.print(table)
    if st["best"]:
        best = Table(title=f"best variants so far ({'highest' if st['direction'] == 'maximize' else 'lowest'} value)")
        best.add_column("variant")
        best.add_column("value", justify="right")
        for b in st["best"]:
            best.add_row(b["variant"], f"{b['value']:.4g}")
        console.print(best)
    else:
        console.print("no results recorded yet")


@app.command()
def serve(
    run_dir: Annotated[Path, typer.Option(help="A campaign's directory, or a folder of campaign directories.")] = Path("campaign"),
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8765,
    token: Annotated[str | None, typer.Option(envvar="ACTIVELOOP_UI_TOKEN", help="The token to sign in with (default: a random one, printed).")] = None,
) -> None:
    """Serve the web interface and REST API over a run directory."""
    try:
        import uvicorn

        from activeloop.web.app import Settings, create_app
        from activeloop.web.auth import SharedToken
        from activeloop.web.local import LocalBackend

        backend = LocalBackend(run_dir)
    except ImportError:
        _fail(ActiveLoopError("the web interface needs its extra: pip install 'activeloop[web]'"))
    except ActiveLoopError as exc:
        _fail(exc)
    auth = SharedToken(token)
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[yellow]warning:[/yellow] serving on {host}: anyone who can reach it and has the token "
                  "can record results; put it behind TLS (a reverse proxy) on a shared network", highlight=False)
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    console.print(f"ActiveLoop is serving {run_dir} at http://{shown}:{port}/\n"
                  f"Sign in with this link (or the token {auth.token}):\n"
                  f"    http://{shown}:{port}/login?token={auth.token}", highlight=False, soft_wrap=True)
    uvicorn.run(create_app(backend, auth, Settings()), host=host, port=port, log_level="warning")


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


@app.command("zero-shot")
def zero_shot(
    scorer: Annotated[str, typer.Option(help="'hamming', or a language model: an ESM-2 id or directory, unirep:64/256/1900, a UniRep .npz.")] = "hamming",
    landscape: Annotated[str | None, typer.Option(help="A known landscape (gb1, blat) or a CSV with variant and fitness: scores its variants and reports the Spearman.")] = None,
    parent: Annotated[str | None, typer.Option(help="Parent sequence (with --sites or --variants).")] = None,
    sites: Annotated[str | None, typer.Option(help="1-based sites, e.g. 39,40,41,54: every combination of --alphabet there.")] = None,
    alphabet: Annotated[str, typer.Option(help="Residues at each site (with --sites).")] = "ACDEFGHIKLMNPQRSTVWY",
    variants: Annotated[Path | None, typer.Option(help="CSV with a 'variant' column (with --parent).")] = None,
    mode: Annotated[str, typer.Option(help="ESM-2: masked (masked marginals) or wildtype (one pass).")] = "masked",
    revision: Annotated[str | None, typer.Option(help="Model revision to pin (Hugging Face).")] = None,
    out: Annotated[Path, typer.Option(help="CSV to write: variant, score.")] = Path("zero-shot.csv"),
) -> None:
    """Zero-shot scores of a library (higher is fitter), from a language model or the Hamming baseline."""
    import numpy as np
    import pandas as pd
    from rich.progress import Progress

    from activeloop.ml.library import Library
    from activeloop.ml.zeroshot import score_library

    fitness = None
    library: Library
    try:
        if landscape:
            from activeloop.landscapes import load_landscape

            land = load_landscape(landscape)
            library, fitness = land.library, land.fitness
        elif parent and sites:
            from activeloop.local.campaign import parse_spec
            from activeloop.steps.data import build_library

            try:
                site_list = [int(x) for x in sites.split(",") if x.strip()]
            except ValueError:
                raise ActiveLoopError(f"--sites: {sites!r} is not a list of numbers like 39,40,41") from None
            spec = parse_spec({"parentSequence": parent, "library": {"sites": site_list, "alphabet": alphabet}},
                              "options")
            library = build_library(spec)
        elif parent and variants:
            from activeloop.ml.sequences import VariantLibrary

            if not variants.is_file():
                raise ActiveLoopError(f"--variants: {variants} is not a file")
            library = VariantLibrary.from_strings(parent, pd.read_csv(variants)["variant"].astype(str).tolist())
        else:
            raise ActiveLoopError("give --landscape, or --parent with --sites or --variants")
        kind = "hamming" if scorer == "hamming" else "backbone"
        with Progress(console=err, transient=True) as bar:
            task = bar.add_task("scoring", total=None)
            result = score_library(library, kind, None if kind == "hamming" else scorer, revision, mode,
                                   on_progress=lambda done, total: bar.update(task, completed=done, total=total))
    except (ActiveLoopError, KeyError) as exc:
        _fail(exc if isinstance(exc, ActiveLoopError) else ActiveLoopError(f"{variants}: no 'variant' column"))
    table = pd.DataFrame({"variant": library.names_of(np.arange(len(library))), "score": result.scores})
    if fitness is not None:
        table["fitness"] = fitness
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    console.print(f"{result.scorer} scores of {len(library):,} variants -> {out}", highlight=False)
    if fitness is not None:
        from scipy.stats import spearmanr

        rho = spearmanr(result.scores, fitness)[0]
        console.print(f"Spearman with measured fitness: {rho:.3f}" if np.isfinite(rho) else
                      "Spearman with measured fitness: undefined (every variant scores the same)",
                      highlight=False)


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
