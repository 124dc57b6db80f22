"""``activeloop``: the command line for simulations and for campaigns on one workstation."""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from activeloop.api.campaign import SurrogateSpec
from activeloop.errors import ActiveLoopError, ConfigError, InputError

if TYPE_CHECKING:
    from activeloop.local.runner import Progress
    from activeloop.service.base import CampaignService, User

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
    surrogate: Annotated[str, typer.Option(help="Surrogate model.")] = SurrogateSpec.model_fields["kind"].default,
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


# ----------------------------------------------------------------------------- one campaign

CampaignArg = Annotated[str | None, typer.Argument(help="A campaign on a cluster (its name); without it, the campaign in --run-dir.")]
RunDirOpt = Annotated[Path, typer.Option(help="The campaign's directory on this workstation.")]
NamespaceOpt = Annotated[str | None, typer.Option("--namespace", "-n", help="Cluster namespace (default: the kube context's).")]


@dataclass(frozen=True)
class Target:
    """Where a command acts: a campaign service, the campaign's name and namespace, and who acts."""

    service: CampaignService
    name: str
    namespace: str | None
    user: User


def _target(campaign: str | None, run_dir: Path, namespace: str | None) -> Target:
    """The campaign a command is about: on a cluster (a name, as the kubeconfig's user) or in a
    run directory (as this computer's user). The only place the command line tells them apart."""
    if campaign is None:
        from activeloop.service.rundir import RunDirService, local_user

        local, name = RunDirService.for_run_dir(run_dir)
        return Target(local, name, None, local_user())
    try:
        from activeloop.service.cluster import ClusterService
        from activeloop.service.kube import KubeAccess, kubeconfig_namespace
    except ImportError:
        raise ActiveLoopError("cluster commands need the operator extra: pip install 'activeloop[operator]'") from None
    from activeloop.service.base import User

    access = KubeAccess(kubeconfig=True)
    ns = kubeconfig_namespace(namespace)
    service = ClusterService([ns], os.environ.get("ACTIVELOOP_STORE_URI") or None, access)
    return Target(service, campaign, ns, User(access.username()))


@app.command()
def init(
    spec: Annotated[Path | None, typer.Argument(help="Campaign YAML (a CampaignSpec or a Campaign resource).")] = None,
    run_dir: RunDirOpt = Path("campaign"),
    from_archive: Annotated[Path | None, typer.Option("--from", help="A campaign archive (from `activeloop export archive` or the web page's 'Archive') to carry on from.")] = None,
) -> None:
    """Start a campaign in RUN_DIR from a campaign spec (a variant list it names is copied in), or
    from a campaign's archive (its plates, rounds and proposals, checked against its manifest)."""
    import yaml

    from activeloop.service.rundir import RunDirService, local_user

    if (spec is None) == (from_archive is None):
        _fail(InputError("spec", "give a campaign YAML, or an archive with --from (one of them)"))
    try:
        service, name = RunDirService.for_run_dir(run_dir)
        if from_archive is not None:
            from activeloop.service import archive

            try:
                unpacked = archive.unpack(from_archive.read_bytes(), str(from_archive))
            except OSError as exc:
                raise InputError(str(from_archive), f"cannot read it ({exc.strerror})") from None
            doc = yaml.safe_load(unpacked.spec)
            detail = service.create_campaign(local_user(), name, doc, files=unpacked.files)
            console.print(f"campaign {unpacked.name or name} carried on in {run_dir} from {from_archive}: "
                          f"round {detail.current_round}, {detail.measured} variants measured", highlight=False)
            return
        assert spec is not None
        doc = _read_spec_file(spec)
        files = _local_files(doc, spec.parent, run_dir)
        detail = service.create_campaign(local_user(), name, doc, files=files)
    except (ActiveLoopError, OSError) as exc:
        _fail(exc)
    s = detail.spec
    console.print(f"campaign started in {run_dir}: {len(s.parent_sequence)} aa parent, {detail.library_size:,} "
                  f"candidates, first batch of {s.initial_batch_size}, then {s.rounds} rounds of "
                  f"{s.acquisition.batch_size}", highlight=False)


@app.command()
def library(
    spec: Annotated[Path, typer.Argument(help="Campaign YAML (a CampaignSpec or a Campaign resource).")],
) -> None:
    """The size of a campaign's site library under its constraints, site by site, before it starts."""
    from pydantic import ValidationError

    from activeloop.api.views import LibraryCheck
    from activeloop.errors import format_validation_error
    from activeloop.steps.data import library_size

    try:
        doc = _read_spec_file(spec)
        if not isinstance(doc, dict):
            raise ConfigError(str(spec), "not a campaign spec (a mapping with parentSequence and library)")
        try:
            check = LibraryCheck.model_validate({k: doc.get(k) for k in ("parentSequence", "library")})
        except ValidationError as exc:
            raise ConfigError(str(spec), format_validation_error(exc)) from None
        size = library_size(check)
    except ActiveLoopError as exc:
        _fail(exc)
    table = Table("site", "parent", "residues", "n")
    for site in size.sites:
        table.add_row(str(site.position), site.parent, site.residues, str(len(site.residues)))
    console.print(table)
    console.print(f"{size.description}: {size.combinations:,} combinations, {size.excluded:,} excluded, "
                  f"[bold]{size.variants:,}[/bold] variants to propose from", highlight=False)


def _read_spec_file(path: Path) -> Any:
    """A campaign spec from a YAML file (a CampaignSpec, or a Campaign resource's spec)."""
    import yaml

    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InputError(str(path), f"cannot read it ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), f"not valid YAML: {exc}") from None
    if isinstance(doc, dict) and doc.get("kind") == "Campaign":
        doc = doc.get("spec")
    return doc


def _local_files(doc: object, base: Path, run_dir: Path) -> dict[str, bytes]:
    """A variant list the spec names as a file beside it, to be copied into the run directory (the
    spec then names its copy): a campaign reads nothing outside its own directory."""
    library = doc.get("library") if isinstance(doc, dict) else None
    if not isinstance(library, dict):
        return {}
    uri = library.get("variantsUri")
    if not isinstance(uri, str) or "://" in uri:
        return {}
    path = (base / uri) if not Path(uri).is_absolute() else Path(uri)
    if not path.is_file() or path.resolve().is_relative_to(run_dir.resolve()):
        return {}
    from activeloop.store import keys

    key = keys.library_file("variants.csv")
    library["variantsUri"] = key
    return {key: path.read_bytes()}


@app.command()
def propose(
    campaign: CampaignArg = None,
    run_dir: RunDirOpt = Path("campaign"),
    force: Annotated[bool, typer.Option(help="Close the latest round now, whatever is pending, and start the next.")] = False,
    jobs: Annotated[int, typer.Option(min=1, help="Processes scoring a sharded library's shards at once (acquisition.shards).")] = 1,
    pick: Annotated[list[str] | None, typer.Option(help="A variant you add to the next batch (repeat it); the model fills the rest.")] = None,
    picks: Annotated[Path | None, typer.Option(help="A CSV with a 'variant' column: variants you add to the next batch.")] = None,
    namespace: NamespaceOpt = None,
) -> None:
    """Start the next round when the latest one is complete, and print where its batch is; with
    --pick or --picks, your variants lead the batch and the model fills the rest."""
    from activeloop.api.resources import CampaignPhase

    def on_progress(p: Progress) -> None:
        if p.state == "shard" and p.detail:
            d = p.detail
            console.print(f"  shard {d['shard'] + 1} of {d['shards']}: {d['ranked']:,} candidates ranked in "
                          f"{d['seconds']:.1f} s (peak {d['peak_rss_mb']:.0f} MB)", highlight=False)
        elif p.state in ("started", "failed"):
            console.print(f"  round {p.round}: {p.step} {p.state}", highlight=False)

    try:
        t = _target(campaign, run_dir, namespace)
        detail = t.service.campaign(t.user, t.name, t.namespace)
        if detail.phase == CampaignPhase.WAITING_FOR_ASSAYS and not force:
            rnd = t.service.rounds(t.user, t.name, t.namespace)[-1]
            need = math.ceil(detail.spec.trigger.min_fraction_measured * rnd.proposed - 1e-9)
            console.print(
                f"round {rnd.round} is waiting for results: {rnd.measured + rnd.failed} of {rnd.proposed} recorded "
                f"({rnd.pending} pending; {need} needed to go on). Its batch: {_batch_hint(t, rnd.round)}\n"
                "Record plates with `activeloop record`, or close the round now with `activeloop close-round` "
                "(or `propose --force`).", highlight=False)
            return
        chosen = list(pick or []) + (_picks_file(picks) if picks is not None else [])
        result = t.service.next_round(t.user, t.name, t.namespace, wait=True, jobs=jobs, on_progress=on_progress,
                                      picks=chosen)
        total = t.service.campaign(t.user, t.name, t.namespace).rounds_planned
    except (ActiveLoopError, OSError) as exc:
        _fail(exc)
    closed = f"round {result.closed_round} closed; " if result.closed_round else ""
    console.print(f"{closed}{result.message} (round {result.next_round} of {total}) -> "
                  f"{_batch_hint(t, result.next_round or 1)}", highlight=False)


def _picks_file(path: Path) -> list[str]:
    """The variants of a picks CSV (its 'variant' column; blank lines left out)."""
    from activeloop.steps.data import variant_names

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), f"cannot read it ({exc.strerror})") from None
    return [v for v in variant_names(data, str(path)) if v]


def _batch_hint(t: Target, number: int) -> str:
    """Where a round's batch is: its CSV on a workstation, the command that exports it."""
    if t.service.kind == "workstation":
        from activeloop.store import keys

        return str(Path(getattr(t.service, "root", ".")) / keys.proposals(number))
    return f"`activeloop proposals {t.name} --round {number} -n {t.namespace}`"


@app.command("close-round")
def close_round(
    campaign: CampaignArg = None,
    run_dir: RunDirOpt = Path("campaign"),
    round_number: Annotated[int | None, typer.Option("--round", min=1, help="The round (default: the latest).")] = None,
    namespace: NamespaceOpt = None,
) -> None:
    """Close a round now, whatever is still pending (it must be waiting for results)."""
    try:
        t = _target(campaign, run_dir, namespace)
        result = t.service.close_round(t.user, t.name, round_number, t.namespace)
    except (ActiveLoopError, OSError) as exc:
        _fail(exc)
    console.print(result.message, highlight=False)


@app.command()
def extend(
    rounds: Annotated[int, typer.Option(min=1, help="New number of rounds after the first batch.")],
    campaign: CampaignArg = None,
    run_dir: RunDirOpt = Path("campaign"),
    namespace: NamespaceOpt = None,
) -> None:
    """Let a campaign run more rounds than its spec planned."""
    try:
        t = _target(campaign, run_dir, namespace)
        detail = t.service.extend(t.user, t.name, rounds, t.namespace)
    except (ActiveLoopError, OSError) as exc:
        _fail(exc)
    console.print(f"{t.name}: now {detail.rounds_planned} rounds in all (first batch + {detail.spec.rounds})",
                  highlight=False)


@app.command()
def record(
    results: Annotated[Path, typer.Argument(help="Plate: .csv/.tsv (',' ';' or tab) or .xlsx with a variant and a value column.")],
    run_dir: RunDirOpt = Path("campaign"),
    value_column: Annotated[str | None, typer.Option(help="Column holding the measured value (case-insensitive).")] = None,
    decimal: Annotated[str, typer.Option(help="Decimal mark of the values: '.', ',' or auto (',' when values are written 12,5 and none 12.5).")] = "auto",
    sheet: Annotated[str | None, typer.Option(help="Excel: the sheet to read (default: the first).")] = None,
    replicates: Annotated[str, typer.Option(help="How a variant's replicates combine: mean or median.")] = "mean",
    name: Annotated[str | None, typer.Option(help="Name of the recorded plate (default: from the file name).")] = None,
    supersede: Annotated[list[str] | None, typer.Option("--supersede", "--supersedes", help="Recorded plate(s) this one corrects.")] = None,
    campaign: Annotated[str | None, typer.Option(help="A campaign on a cluster: its name.")] = None,
    campaign_file: Annotated[Path | None, typer.Option(help="-o yaml: the Campaign YAML to check against (else read from the cluster).")] = None,
    round_number: Annotated[int | None, typer.Option("--round", min=1, help="Round whose proposals were assayed.")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="With --campaign: print AssayResult manifests (yaml) for GitOps instead of recording.")] = None,
    apply: Annotated[bool, typer.Option("--apply", help="With --campaign: record on the cluster.")] = False,
    unit: Annotated[str | None, typer.Option(help="Unit of the values (manifests).")] = None,
    layout: Annotated[int | None, typer.Option(help="A reader's export by well: read it with the round's plate map of 96 or 384 wells (from `activeloop proposals --layout`).")] = None,
    plate_number: Annotated[int | None, typer.Option("--plate", min=1, help="With --layout or --map: which plate of the map the file is.")] = None,
    map_file: Annotated[Path | None, typer.Option("--map", help="A reader's export by well: your own plate map (well, variant, and optionally plate and control columns).")] = None,
    skip_rows: Annotated[int | None, typer.Option(min=0, help="Title rows above the header (default: found, as the first row naming a known column).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row and show what would be recorded (a correction: what it changes); record nothing.")] = False,
    earlier: Annotated[bool, typer.Option("--earlier", help="Measurements made before the campaign started (earlier data): trained on from the first round, never proposed again.")] = False,
    task: Annotated[str | None, typer.Option(help="A related assay's name (another temperature, another substrate): the values train the model as a second task and are not the campaign's results.")] = None,
    namespace: NamespaceOpt = None,
) -> None:
    """Check every row of a plate and record them all, or nothing if any row is bad.

    Mark a failed well with a 'status' column saying failed (or write failed, n.d., NA, error or
    overflow in place of its value). Title rows above the header, units in column names
    ('Fitness (a.u.)') and decimal commas are understood. Recording the same plate twice records
    nothing the second time. Without --campaign the plate is recorded in RUN_DIR; with --campaign
    it is recorded on the cluster (--apply) or printed as AssayResult manifests for GitOps (-o yaml).
    """
    from activeloop.service.plates import RecordOptions
    from activeloop.steps import tables

    if campaign is not None and (output is None) == (not apply):
        _fail(ActiveLoopError("with --campaign give exactly one of -o yaml or --apply"))
    if output not in (None, "yaml"):
        _fail(ActiveLoopError(f"--output {output!r}: only yaml is supported"))
    try:
        plate_map = tables.read_table(map_file) if map_file is not None else None
        options = RecordOptions(value_column=value_column, decimal=decimal, sheet=sheet, name=name,
                                supersedes=tuple(supersede or ()), replicates=replicates, round=round_number,
                                skip_rows=skip_rows, layout=layout, plate=plate_number, map=plate_map,
                                dry_run=dry_run, earlier=earlier, task=task)
        table = tables.read_table(results, sheet=sheet, skip_rows=skip_rows)
        if output == "yaml":
            assert campaign is not None
            typer.echo(_manifests(campaign, campaign_file, table, options, unit, namespace), nl=False)
            return
        t = _target(campaign, run_dir, namespace)
        out = t.service.record(t.user, t.name, table, options, t.namespace)
    except (ActiveLoopError, OSError) as exc:
        _fail(exc)
    for line in _record_notes(out):
        console.print(line, highlight=False)
    if out.dry_run:
        console.print(f"{results}: all {out.rows} rows are good; nothing recorded (--dry-run)", highlight=False)
        return
    if not out.recorded:
        console.print(f"{results}: these results were recorded before (as {out.duplicate_of}); nothing recorded",
                      highlight=False)
        return
    failed = f", {out.failed} failed wells" if out.failed else ""
    corrects = f"; corrects {', '.join(out.supersedes)}" if out.supersedes else ""
    console.print(f"recorded {out.rows} measurements from {results} as {out.name}{failed}{corrects}", highlight=False)


def _record_notes(out: object) -> list[str]:
    """What a person should know of a plate on its way in: title rows skipped, wells off the map,
    the decimal mark used, controls and drift, a correction's changes."""
    from activeloop.api.views import RecordResult

    assert isinstance(out, RecordResult)
    notes = []
    if out.skipped_rows:
        notes.append(f"skipped {out.skipped_rows} title row(s) above the header")
    if out.skipped_wells:
        notes.append(f"left out {out.skipped_wells} well(s) the plate map leaves empty")
    if out.decimal == ",":
        notes.append("read the values with a decimal comma")
    for c in out.controls:
        what = f"{c.kind} {c.variant}".strip()
        cv = f", CV {c.cv:.0%}" if c.cv is not None else ""
        notes.append(f"control {what}: {c.wells} wells, mean {c.mean:.4g}{cv}" if c.mean is not None
                     else f"control {what}: {c.wells} wells, none gave a value")
    notes += [f"[yellow]controls out of line:[/yellow] {d}" for d in out.drift]
    if out.supersedes:
        notes.append(f"the correction changes {len(out.changes)} variant(s) and leaves {out.unchanged} as they were")
        for ch in out.changes[:20]:
            fmt = lambda v, f: "failed" if f else ("-" if v is None else f"{v:.4g}")  # noqa: E731
            notes.append(f"  {ch.variant}: {fmt(ch.before, ch.before_failed and ch.kind != 'added')} -> "
                         f"{fmt(ch.after, ch.after_failed and ch.kind != 'removed')} ({ch.kind})")
    return notes


def _manifests(campaign: str, campaign_file: Path | None, table: object, options: object, unit: str | None,
               namespace: str | None) -> str:
    """AssayResult manifests of a plate (for GitOps), checked against the campaign's spec."""
    import yaml

    from activeloop.service.cluster import resource_spec
    from activeloop.service.plates import RecordOptions, check_plate, default_plate_name
    from activeloop.steps import ingest
    from activeloop.steps.data import build_library

    assert isinstance(options, RecordOptions) and isinstance(table, ingest.Table)
    if campaign_file is not None:
        docs = [d for d in yaml.safe_load_all(campaign_file.read_text()) if d]
        doc = next((d for d in docs if d.get("kind") == "Campaign" and d["metadata"]["name"] == campaign), None)
        if doc is None:
            raise ConfigError("campaign_file", f"{campaign_file} has no Campaign named {campaign}")
        spec = resource_spec(doc.get("spec"), str(campaign_file)).core()
        ns = namespace
    else:
        t = _target(campaign, Path("."), namespace)
        spec, ns = t.service.campaign(t.user, campaign, t.namespace).spec, t.namespace
    checked = check_plate(table, spec, build_library(spec), options)
    name = options.name or f"{campaign}-{default_plate_name(options, checked)}"
    docs = ingest.assay_manifests(campaign, checked.rows, name=name, round_number=options.round, unit=unit,
                                  replicates=options.replicates, supersedes=options.supersedes, namespace=ns,
                                  earlier=checked.earlier, task=checked.task)
    return yaml.safe_dump_all(docs, sort_keys=False)


@app.command()
def proposals(
    campaign: CampaignArg = None,
    round_number: Annotated[int | None, typer.Option("--round", min=1, help="Round number (default: the latest).")] = None,
    run_dir: RunDirOpt = Path("campaign"),
    output: Annotated[str, typer.Option("--output", "-o", help="csv, xlsx (with --file) or yaml.")] = "csv",
    layout: Annotated[int | None, typer.Option(help="Lay the batch out on 96- or 384-well plates (with the campaign's control wells).")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Write to this file instead of printing.")] = None,
    namespace: NamespaceOpt = None,
) -> None:
    """Export a round's proposals (the batch to send to the lab): each prediction in measured units
    with its 95% interval, and an empty value column to fill in."""
    from activeloop.service import exports

    try:
        t = _target(campaign, run_dir, namespace)
        number, props = t.service.proposals(t.user, t.name, round_number, t.namespace)
        spec = t.service.campaign(t.user, t.name, t.namespace).spec
        sheet = exports.proposals_sheet(props, layout, spec.plates, [o.name for o in spec.all_objectives])
        if output == "yaml":
            import yaml

            body = yaml.safe_dump({"campaign": t.name, "round": number,
                                   "proposals": sheet.to_dict("records")}, sort_keys=False).encode()
        else:
            if output == "xlsx" and file is None:
                raise InputError("output", "a workbook is not printed: give --file proposals.xlsx")
            body = exports.table_bytes(sheet, output, f"round {number}")
    except (ActiveLoopError, OSError, ValueError) as exc:
        _fail(exc)
    if file is not None:
        file.write_bytes(body)
        err.print(f"round {number}: {len(props)} proposals written to {file}", highlight=False)
    else:
        typer.echo(body.decode(), nl=False)


@app.command()
def plates(
    campaign: CampaignArg = None,
    run_dir: RunDirOpt = Path("campaign"),
    namespace: NamespaceOpt = None,
) -> None:
    """The plates recorded, newest first: when, by whom, rows, failed wells, controls, corrections."""
    try:
        t = _target(campaign, run_dir, namespace)
        views = t.service.plates(t.user, t.name, t.namespace)
    except (ActiveLoopError, OSError) as exc:
        _fail(exc)
    table = Table(title=f"plates of {t.name}")
    for col in ("plate", "round", "recorded", "by", "rows", "failed", "controls", "state"):
        table.add_column(col, overflow="fold")  # a name is never cut short
    for v in views:
        ctl = ", ".join(f"{c.kind} {c.mean:.3g}" if c.mean is not None else c.kind for c in v.controls) or "-"
        state = f"corrected by {v.superseded_by}" if v.superseded_by else v.phase
        if v.drift:
            state += " (controls out of line)"
        table.add_row(v.name, str(v.round or "-"), v.recorded_at or "-", v.recorded_by or "-", str(v.rows),
                      str(v.failed), ctl, state)
    console.print(table)


@app.command()
def export(
    what: Annotated[str, typer.Argument(help="measurements, or archive (the whole campaign, for `init --from`).")],
    file: Annotated[Path, typer.Option("--file", "-f", help="Where to write it (.csv or .xlsx for measurements; .zip for an archive).")],
    campaign: CampaignArg = None,
    run_dir: RunDirOpt = Path("campaign"),
    namespace: NamespaceOpt = None,
) -> None:
    """Export the campaign's measurements (CSV or Excel) or the whole campaign as one archive."""
    from activeloop.service import exports

    try:
        t = _target(campaign, run_dir, namespace)
        if what == "archive":
            body = t.service.archive(t.user, t.name, t.namespace)
        elif what == "measurements":
            fmt = file.suffix.lstrip(".").lower() or "csv"
            body = exports.table_bytes(t.service.measurements(t.user, t.name, t.namespace), fmt, "measurements")
        else:
            raise InputError("what", f"{what!r}: export measurements or archive")
        file.write_bytes(body)
    except (ActiveLoopError, OSError) as exc:
        _fail(exc)
    console.print(f"{what} of {t.name} written to {file} ({len(body):,} bytes)", highlight=False)


@app.command()
def status(
    campaign: CampaignArg = None,
    run_dir: RunDirOpt = Path("campaign"),
    namespace: NamespaceOpt = None,
) -> None:
    """Where a campaign stands: its rounds (done and planned), pending proposals, the best so far."""
    try:
        t = _target(campaign, run_dir, namespace)
        c = t.service.campaign(t.user, t.name, t.namespace)
        rounds = t.service.rounds(t.user, t.name, t.namespace)
    except (ActiveLoopError, OSError) as exc:
        _fail(exc)
    console.print(f"campaign {c.name}: {c.phase}, round {c.current_round} of {c.rounds_planned}, {c.measured} "
                  f"variants measured, {c.failed} failed, {c.pending} proposals pending", highlight=False)
    if c.message:
        console.print(c.message, highlight=False)
    if c.best_variant:
        better = "highest" if c.direction == "maximize" else "lowest"
        console.print(f"best so far ({better}): {c.best_variant} ({c.best_value:.4g})", highlight=False)
    if c.spec.further_objectives:
        _print_front(t)
    table = Table(title="rounds")
    for col in ("round", "phase", "proposed", "measured", "failed", "pending", "steps"):
        table.add_column(col, justify="right" if col not in ("phase", "steps") else "left")
    for r in rounds:
        steps = ", ".join(f"{s} {v.state or '-'}" for s, v in r.steps.items())
        phase = f"{r.phase} (closed)" if r.closed else str(r.phase)
        table.add_row(str(r.round), phase, str(r.proposed), str(r.measured), str(r.failed), str(r.pending), steps)
    console.print(table)


def _print_front(t: Target) -> None:
    """The Pareto front of a campaign with several objectives, and its hypervolume by round."""
    front = t.service.pareto(t.user, t.name, t.namespace)
    history = t.service.history(t.user, t.name, t.namespace)
    volumes = ", ".join(f"round {h.round} {h.hypervolume:.4g}" for h in history if h.hypervolume is not None)
    console.print(f"Pareto front: {len(front.points)} of {front.complete} variants measured for every objective; "
                  f"hypervolume {front.hypervolume:.4g}" + (f" ({volumes})" if volumes else ""), highlight=False)
    table = Table(title="Pareto front (best first in " + front.objectives[0] + ")")
    table.add_column("variant")
    for n in front.objectives:
        table.add_column(n, justify="right")
    for p in front.points:
        table.add_row(p.variant, *(f"{p.values[n]:.4g}" for n in front.objectives))
    console.print(table)


@app.command()
def serve(
    run_dir: Annotated[Path, typer.Option(help="A campaign's directory, or a folder of campaign directories.")] = Path("campaign"),
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8765,
    token_file: Annotated[Path | None, typer.Option(help="A file holding the token to sign in with (default: ACTIVELOOP_UI_TOKEN, else a random one, printed).")] = None,
    user: Annotated[str | None, typer.Option(help="Whose token it is: the name plates and rounds record (default: this computer's user).")] = None,
    users: Annotated[Path | None, typer.Option(help="A users file (`activeloop users add NAME --file F`): each person signs in with their own token.")] = None,
) -> None:
    """Serve the web interface and REST API over a run directory."""
    try:
        import uvicorn

        from activeloop.service.rundir import RunDirService, local_user
        from activeloop.web.app import Settings, create_app
        from activeloop.web.auth import NamedTokens, SharedToken, read_token, read_users
    except ImportError:
        _fail(ActiveLoopError("the web interface needs its extra: pip install 'activeloop[web]'"))
    try:
        service = RunDirService(run_dir)
        if users is not None:
            if token_file is not None or user is not None:
                raise InputError("users", "with a users file, each person signs in with their own token: "
                                          "leave out --token-file and --user")
            auth: NamedTokens = NamedTokens(read_users(users))
        else:
            auth = SharedToken(read_token(token_file, os.environ.get("ACTIVELOOP_UI_TOKEN")),
                               name=user or local_user().name)
    except ActiveLoopError as exc:
        _fail(exc)
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[yellow]warning:[/yellow] serving on {host}: anyone who can reach it and has the token "
                  "can record results; put it behind TLS (a reverse proxy) on a shared network", highlight=False)
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    if isinstance(auth, SharedToken):
        console.print(f"ActiveLoop is serving {run_dir} at http://{shown}:{port}/ for {next(iter(auth.users))}\n"
                      f"Sign in with this link (or the token {auth.token}):\n"
                      f"    http://{shown}:{port}/login?token={auth.token}", highlight=False, soft_wrap=True)
    else:
        console.print(f"ActiveLoop is serving {run_dir} at http://{shown}:{port}/ for {len(auth.users)} users "
                      f"({', '.join(sorted(auth.users))}): each signs in with their own token", highlight=False)
    uvicorn.run(create_app(service, auth, Settings()), host=host, port=port, log_level="warning",
                timeout_keep_alive=5, limit_concurrency=64, h11_max_incomplete_event_size=64 * 1024)


users_app = typer.Typer(help="People who may sign in to `activeloop serve --users FILE`, each with their own token.",
                        no_args_is_help=True)
app.add_typer(users_app, name="users")
UsersFile = Annotated[Path, typer.Option("--file", "-f", help="The users file.")]


@users_app.command("add")
def users_add(name: Annotated[str, typer.Argument(help="The person's name, as plates will record it.")],
              file: UsersFile = Path("users.txt")) -> None:
    """Give NAME a new token (replacing an earlier one); it is shown once, and only its SHA-256 is kept."""
    from activeloop.web.auth import add_user

    try:
        token = add_user(file, name)
    except (ActiveLoopError, OSError) as exc:
        _fail(exc)
    console.print(f"{name}'s token (shown once; give it to {name} only): {token}", highlight=False)


@users_app.command("remove")
def users_remove(name: Annotated[str, typer.Argument(help="The person to remove.")],
                 file: UsersFile = Path("users.txt")) -> None:
    """Take NAME out: their token stops working when the server starts again."""
    from activeloop.web.auth import remove_user

    try:
        remove_user(file, name)
    except (ActiveLoopError, OSError) as exc:
        _fail(exc)
    console.print(f"{name} removed from {file}", highlight=False)


@users_app.command("list")
def users_list(file: UsersFile = Path("users.txt")) -> None:
    """The people in the users file."""
    from activeloop.web.auth import read_users

    try:
        names = sorted(read_users(file))
    except ActiveLoopError as exc:
        _fail(exc)
    console.print("\n".join(names) if names else f"{file} has no users", highlight=False)


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
            from activeloop.service.rundir import parse_spec
            from activeloop.steps.data import build_library

            try:
                site_list = [int(x) for x in sites.split(",") if x.strip()]
            except ValueError:
                raise ActiveLoopError(f"--sites: {sites!r} is not a list of numbers like 39,40,41") from None
            spec = parse_spec({"parentSequence": parent, "library": {"sites": site_list, "alphabet": alphabet}},
                              "options")
            library = build_library(spec)
        elif parent and variants:
            from activeloop.ml.library import VariantLibrary

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
