"""The acquire step: fit the surrogate on what is measured and propose a round's batch.

Like every step it is a function of ``(store, round_number)``: the local runner calls it
in-process, the cluster runs it as a Job (``python -m activeloop.steps acquire``). It reads only the
round's pinned inputs (``steps.snapshot``) and the round's tuned model. Its JSON record carries the
content hashes of what it read and wrote, so every proposal can be traced to its model and data.
Re-running it for a round that already has proposals returns the stored record (idempotent).
"""

from __future__ import annotations

import json
import pickle
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from activeloop.api.campaign import CampaignSpec
from activeloop.api.names import LANGUAGE_MODEL_ENCODING, Step
from activeloop.errors import ConfigError
from activeloop.ml.acquisition import get_strategy
from activeloop.ml.candidates import DEFAULT_CHUNK, Candidates
from activeloop.ml.determinism import single_threaded
from activeloop.ml.encodings import get_encoder
from activeloop.ml.initial import initial_batch
from activeloop.ml.library import Library
from activeloop.ml.loop import (
    Related,
    fit_with_related,
    propose_batch,
    transform_targets,
    untransform,
    with_task_column,
)
from activeloop.ml.neighbourhood import Neighbourhood, choose_batch, neighbourhood
from activeloop.ml.shards import ShardTop, merge_shards
from activeloop.ml.surrogates import Surrogate
from activeloop.ml.variants import SubstitutionLibrary
from activeloop.ml.zeroshot import standardised
from activeloop.steps import ingest
from activeloop.steps.cost import measure
from activeloop.steps.data import build_library, pending_names, write_record
from activeloop.steps.picks import batch_size, check_picks
from activeloop.steps.snapshot import RoundInputs, load_inputs, load_related
from activeloop.steps.zeroshot import zero_shot_scores
from activeloop.store import keys
from activeloop.store.base import ArtifactStore

Featuriser = Callable[[np.ndarray | None], np.ndarray]
"""Library rows (``None``: all) -> the surrogate's features of those variants."""


def featuriser(
    store: ArtifactStore, spec: CampaignSpec, library: Library, round_number: int
) -> Featuriser:
    """The surrogate's features (tuned-model embeddings for ``esm``), with the model loaded once."""
    if spec.surrogate.encoding != LANGUAGE_MODEL_ENCODING:
        encoder = get_encoder(spec.surrogate.encoding)

        def fixed(rows: np.ndarray | None = None) -> np.ndarray:
            # encoded when asked, never the whole library at once (see ml.candidates)
            return encoder.encode(library, rows)

        return fixed
    prefix = keys.model_prefix(round_number)
    if store.list(prefix + "/"):
        from activeloop.ml.lora import load_tuned

        with tempfile.TemporaryDirectory() as tmp:
            for k in store.list(prefix + "/"):
                store.get_file(k, Path(tmp) / k.rsplit("/", 1)[1])
            tuned = load_tuned(tmp, spec.backbone.model, spec.backbone.revision)
        embed: Callable[[list[str]], np.ndarray] = tuned.embed
    else:
        from activeloop.ml.backbones import embed_sequences, load_backbone

        backbone = load_backbone(spec.backbone.model, spec.backbone.revision)

        def embed(sequences: list[str]) -> np.ndarray:
            return embed_sequences(backbone, sequences)

    def featurise(rows: np.ndarray | None = None) -> np.ndarray:
        # only the rows asked for are turned into sequences and embedded
        return embed(library.sequences_of(np.arange(len(library)) if rows is None else rows))

    return featurise


def use_cascade(spec: CampaignSpec, library: Library) -> bool:
    """Whether this round scores the library with students first (see ``acquisition.cascade``)."""
    mode = spec.acquisition.cascade.mode
    if mode != "auto":
        return mode == "always"
    return (spec.acquisition.shards == 1 and spec.surrogate.encoding == LANGUAGE_MODEL_ENCODING
            and len(library) >= spec.acquisition.cascade.min_library)


def cascade_candidates(
    store: ArtifactStore,
    spec: CampaignSpec,
    library: Library,
    round_number: int,
    featurise: Featuriser,
    measured: np.ndarray,
    X_measured: np.ndarray,
    y: np.ndarray,
    available: np.ndarray,
    seed: int,
) -> tuple[np.ndarray, dict]:
    """Rows the teacher should see, chosen by a student ensemble distilled from it this round.

    The teacher (the campaign's surrogate on its features, fitted on the measurements) labels
    ``unlabelled`` random library variants; CNN students learn those labels plus the measured
    values, score every variant on one-hot input, and :func:`select_for_teacher` keeps
    ``fraction`` of the library. Returns the rows and a summary for the step's record.
    """
    from activeloop.ml.cascade import select_for_teacher
    from activeloop.ml.distill import train_ensemble
    from activeloop.ml.surrogates import get_surrogate

    c = spec.acquisition.cascade
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    free = np.nonzero(available)[0]
    pool = rng.choice(free, size=min(c.unlabelled, len(free)), replace=False)
    teacher = get_surrogate(spec.surrogate.kind, seed=seed).fit(X_measured, y)
    targets = np.concatenate([y, teacher.predict(featurise(pool)).mean])
    X_student = get_encoder("onehot").encode(library)
    students = train_ensemble(X_student[np.concatenate([measured, pool])], targets,
                              members=c.students, channels=c.channels, epochs=c.epochs, seed=seed)
    scores = students.predict(X_student)
    n_send = max(int(np.ceil(c.fraction * len(library))), spec.acquisition.batch_size)
    sent = select_for_teacher(scores, n_send,
                              uncertain_share=c.uncertain_share, available=available)
    listing = pd.DataFrame({"variant": library.names_of(sent),
                            "student_mean": scores.mean[sent], "student_std": scores.std[sent]})
    key = keys.cascade(round_number)
    summary = {"candidates_uri": store.uri(key),
               "candidates_sha256": store.put_bytes(key, listing.to_csv(index=False).encode()),
               "students": c.students, "student_parameters": students.num_parameters(),
               "teacher_labelled": int(len(pool)), "sent_to_teacher": int(len(sent)),
               "library": len(library), "seconds": time.perf_counter() - start}
    return sent, summary


@dataclass(frozen=True)
class RoundContext:
    """What a round's acquisition reads, derived from its pinned inputs: the same in the acquire
    step and in every shard of the score step."""

    spec: CampaignSpec
    inputs: RoundInputs
    library: Library
    train: pd.DataFrame
    measured: np.ndarray
    failed: list[str]
    pending: np.ndarray
    blocked: np.ndarray
    sign: float
    seed: int
    scores: np.ndarray | None
    zero_shot: dict | None
    picked: np.ndarray
    """Rows a person picked for this round's batch (proposed first, as given)."""
    related: Related | None = None
    """Measurements in related assays (a second task for the model), rows of the library."""
    related_tasks: tuple[str, ...] = ()
    """The related assays' names, task ``i + 1`` for the ``i``-th."""
    data: pd.DataFrame | None = None
    """The pinned measurements (every objective's values)."""

    @property
    def model_batch(self) -> int:
        """How many proposals the model makes: the round's batch less the picks."""
        return max(0, batch_size(self.spec, self.inputs.round) - len(self.picked))

    @cached_property
    def unavailable(self) -> np.ndarray:
        """Rows that may not be proposed: measured or blocked (sorted)."""
        return np.union1d(self.measured, self.blocked)

    @cached_property
    def available_mask(self) -> np.ndarray:
        """Whether each library row may be proposed (not :attr:`unavailable`); never written to."""
        mask = np.ones(len(self.library), dtype=bool)
        mask[self.unavailable] = False
        mask.flags.writeable = False
        return mask

    @property
    def available(self) -> int:
        """How many rows may be proposed."""
        return len(self.library) - len(self.unavailable)

    @property
    def targets(self) -> np.ndarray:
        """The measured values as the surrogate sees them (higher is better, transformed)."""
        y = self.sign * self.train["value"].to_numpy(dtype=np.float64)
        return transform_targets(y, self.spec.surrogate.transform)

    @property
    def sharded(self) -> bool:
        """Whether the library is scored in ``acquisition.shards`` shards this round."""
        return (self.spec.acquisition.shards > 1 and len(self.measured) >= 2
                and get_strategy(self.spec.acquisition.strategy).needs_model)


def round_context(store: ArtifactStore, round_number: int) -> RoundContext:
    """The :class:`RoundContext` of round ``round_number`` (reads its pinned inputs)."""
    spec, data, inputs = load_inputs(store, round_number)
    library = build_library(spec, store)
    train = ingest.in_library(ingest.fitted(data), library)
    measured = library.rows_of(train["variant"])
    tried = set(data["variant"])
    failed = [v for v in data.loc[data["failed"], "variant"] if library.contains(v)]
    pending_list = pending_names(store, library, tried, round_number)
    pending = library.rows_of(pending_list) if pending_list else np.zeros(0, dtype=np.int64)
    picks = check_picks(library, inputs.picks, tried, set(pending_list), batch_size(spec, round_number))
    picked = library.rows_of(picks) if picks else np.zeros(0, dtype=np.int64)
    blocked = np.unique(np.concatenate(
        [library.rows_of(failed), pending, picked, library.excluded_rows()]).astype(np.int64))
    scores = zero_shot = None
    if spec.uses_zero_shot:
        scores, zs = zero_shot_scores(store, spec, library)
        zero_shot = {k: zs[k] for k in ("scorer", "model", "uri", "sha256", "seconds")}
    sign = 1.0 if spec.objective.direction == "maximize" else -1.0
    related, tasks = _related(load_related(store, inputs), library, sign)
    return RoundContext(spec, inputs, library, train, measured, failed, pending, blocked, sign,
                        spec.seed * 1000 + round_number, scores, zero_shot, picked, related, tasks, data)


def _related(table: pd.DataFrame, library: Library, sign: float) -> tuple[Related | None, tuple[str, ...]]:
    """The related assays' measurements of library variants, as the model's further tasks."""
    table = ingest.in_library(table, library)
    if table.empty:
        return None, ()
    names = tuple(sorted(set(table["task"])))
    index = {n: i + 1 for i, n in enumerate(names)}
    return Related(library.rows_of(table["variant"]), sign * table["value"].to_numpy(dtype=np.float64),
                   table["task"].map(index).to_numpy(dtype=np.int64)), names


SPARSE_SURROGATES = ("gp_epistasis", "gp_epistasis2", "gp_epistasis_auto")
"""Surrogates that read a list held as substitutions without making its features dense."""
DENSE_CHUNK_BYTES = 256 << 20
"""Dense features made at a time for other surrogates over such a list."""


def candidate_chunk(spec: CampaignSpec, library: Library) -> int:
    """Rows scored at a time: the default; for a list held as substitutions whose surrogate reads
    dense one-hot features (or whose features are not one-hot), as many as fit in 256 MB."""
    if not isinstance(library, SubstitutionLibrary) or (
            spec.surrogate.kind in SPARSE_SURROGATES and spec.surrogate.encoding == "onehot"
            and spec.surrogate.prior == "none"):
        return DEFAULT_CHUNK
    width = 64 * max(1, len(library.positions))  # 20 one-hot or 23 descriptors (43 both) per site, and room
    return max(256, min(DEFAULT_CHUNK, DENSE_CHUNK_BYTES // (8 * width)))


def round_candidates(store: ArtifactStore, ctx: RoundContext, round_number: int,
                     featurise: Featuriser | None = None) -> Candidates:
    """The surrogate's candidates: every library row, features a chunk at a time (with a task
    column when related assays are in the round, and the standardised zero-shot score as the last
    column when the surrogate uses it as a prior); ``featurise``: the round's featuriser, if built."""
    featurise = featurise or featuriser(store, ctx.spec, ctx.library, round_number)
    cands = Candidates(len(ctx.library), featurise, candidate_chunk(ctx.spec, ctx.library))
    cands, _ = with_task_column(cands, ctx.related)
    if ctx.scores is not None and ctx.spec.surrogate.prior == "zeroShot":
        cands = cands.with_column(standardised(np.asarray(ctx.scores, dtype=np.float64)))
    return cands


def fit_round_surrogate(store: ArtifactStore, round_number: int, ctx: RoundContext) -> dict:
    """Fit the round's surrogate once and store it for the shards and the merge; returns a record.

    The store is the campaign's own (written by its steps only): the pickled surrogate is read
    back by this campaign's Jobs, like its model weights.
    """
    featurise = featuriser(store, ctx.spec, ctx.library, round_number)  # a language model loaded once
    cands = round_candidates(store, ctx, round_number, featurise)
    _, task_column = with_task_column(Candidates(len(ctx.library), featurise), ctx.related)
    with single_threaded():
        model = fit_with_related(cands, ctx.measured, ctx.targets, ctx.spec.surrogate.kind, seed=ctx.seed,
                                 prior=ctx.spec.surrogate.prior == "zeroShot" and ctx.scores is not None,
                                 related=ctx.related, task_column=task_column, transform=ctx.spec.surrogate.transform)
    digest = store.put_bytes(keys.surrogate(round_number), pickle.dumps(model, protocol=5))
    return {"shards": ctx.spec.acquisition.shards, "surrogate_uri": store.uri(keys.surrogate(round_number)),
            "surrogate_sha256": digest}


def load_round_surrogate(store: ArtifactStore, round_number: int) -> Surrogate:
    """The surrogate :func:`fit_round_surrogate` stored for round ``round_number``."""
    key = keys.surrogate(round_number)
    if not store.exists(key):
        raise ConfigError("surrogate", f"round {round_number} is sharded but its fitted surrogate "
                                       f"({key}) is missing: run the tune step first")
    return pickle.loads(store.get_bytes(key))


def read_shard_tops(store: ArtifactStore, round_number: int, shards: int) -> list[ShardTop]:
    """Every shard's top list; an error naming the shards that have none."""
    missing = [i for i in range(shards) if not store.exists(keys.shard(round_number, i))]
    if missing:
        raise ConfigError("shards", f"round {round_number}: shard(s) {missing} of {shards} have no "
                                    "result in the store; run the score step for them first")
    tops = []
    for i in range(shards):
        rec = json.loads(store.get_bytes(keys.shard(round_number, i)))
        tops.append(ShardTop(np.asarray(rec["rows"], dtype=np.int64),
                             np.asarray(rec["scores"], dtype=np.float64), int(rec["ranked"])))
    return tops


Z95 = 1.959963984540054
"""The normal quantile of a two-sided 95% interval."""


def proposal_table(variants: list[str], mean: np.ndarray, std: np.ndarray, sign: float, values: np.ndarray,
                   transform: str, picked_by: list[str | None] | None = None) -> pd.DataFrame:
    """The proposals as a lab reads them (``steps.data.PROPOSAL_COLUMNS``): each prediction in the
    measured units with its 95% interval, and the model's own score (a normal score of the
    measured values under the rank transform, where higher is better; the value itself without).

    ``mean``/``std``: the surrogate's prediction of ``sign * value`` (transformed); ``values``:
    the measured values it was fitted on; ``picked_by``: who picked each variant (``None``: the model)."""
    y = sign * values
    lo_s, hi_s = mean - Z95 * std, mean + Z95 * std
    back = [sign * untransform(v, y, transform) for v in (mean, lo_s, hi_s)]
    low, high = np.fmin(back[1], back[2]), np.fmax(back[1], back[2])
    return pd.DataFrame({
        "variant": variants, "rank": np.arange(1, len(variants) + 1), "predicted": back[0],
        "predicted_low": low, "predicted_high": high,
        "score": sign * mean if transform == "none" else mean, "score_sd": std,
        "picked_by": picked_by if picked_by is not None else [None] * len(variants)})


def acquire(store: ArtifactStore, round_number: int) -> dict:
    """Propose round ``round_number``'s batch; writes ``proposals.csv`` and ``acquire.json``.

    With fewer than two measured variants, the batch is ``initialBatchSize`` variants chosen by
    ``initialBatch`` (at random, or by the library's zero-shot scores). Variants measured, failed,
    pending (proposed in an earlier round, no result in this round's inputs) or excluded are never
    proposed. A sharded round (``acquisition.shards``) merges the top lists its shards wrote
    (``steps.score``) and chooses from them with the surrogate the tune step fitted.
    """
    key = keys.step_record(round_number, Step.ACQUIRE)
    if store.exists(key) and store.exists(keys.proposals(round_number)):
        return json.loads(store.get_bytes(key))
    ctx = round_context(store, round_number)
    spec, library, train, measured, seed = ctx.spec, ctx.library, ctx.train, ctx.measured, ctx.seed
    cascade = None
    prior_weight = None
    shards = multi = None
    model = model_cands = None
    near, hood, why_not = 0, None, _why_no_local(spec, round_number, "a first batch")
    with measure() as cost:
        if len(measured) < 2:
            rng = np.random.default_rng(seed)
            free = np.ones(len(library), dtype=bool)  # a mask: setdiff1d sorts the whole library
            free[ctx.unavailable] = False
            rows = (initial_batch(spec.initial_batch.strategy, library, np.flatnonzero(free),
                                  ctx.model_batch, rng, ctx.scores, spec.initial_batch.top_fraction,
                                  spec.initial_batch.max_share)
                    if ctx.model_batch else np.zeros(0, dtype=np.int64))
            mean = std = np.full(len(rows), np.nan)
            strategy = f"{spec.initial_batch.strategy} (first batch)"
        else:
            strategy = spec.acquisition.strategy
            pred = None
            if not ctx.model_batch:
                rows = np.zeros(0, dtype=np.int64)
            elif ctx.sharded:
                hood, why_not = _round_neighbourhood(ctx, round_number), _why_no_local(spec, round_number, SMALL)
                rows, pred, model, shards, model_cands, near = _merge_shards(store, ctx, round_number, hood)
            elif spec.further_objectives and len(used := usable_objectives(ctx)) > 1:
                rows, pred, model, multi, model_cands = _propose_multi(store, ctx, round_number, used)
                why_not = _why_no_local(spec, round_number, "several objectives: no one best to search around")
                strategy = f"{spec.acquisition.multi_objective} ({len(multi['used'])} objectives)"
            elif use_cascade(spec, library):
                rows, pred, model, cascade, model_cands, _ = _propose(store, ctx, round_number, None)
                why_not = _why_no_local(spec, round_number, "a cascade round (its students score the library)")
            else:
                hood, why_not = _round_neighbourhood(ctx, round_number), _why_no_local(spec, round_number, SMALL)
                rows, pred, model, cascade, model_cands, near = _propose(store, ctx, round_number, hood)
            prior_weight = getattr(model, "prior_weight", None)
            if pred is not None:
                mean, std = pred.mean, pred.std
            else:
                mean = std = np.full(len(rows), np.nan)
        pick_mean = pick_std = np.full(len(ctx.picked), np.nan)
        if len(ctx.picked) and model is not None and model_cands is not None and cascade is None:
            with single_threaded():
                picked_pred = model.predict(model_cands.features(ctx.picked))
            pick_mean, pick_std = picked_pred.mean, picked_pred.std
    picked_by = [ctx.inputs.picked_by or "a person"] * len(ctx.picked) + [None] * len(rows)
    rows = np.concatenate([ctx.picked, rows]).astype(np.int64)
    proposals = proposal_table(library.names_of(rows), np.concatenate([pick_mean, mean]),
                               np.concatenate([pick_std, std]), ctx.sign,
                               ctx.train["value"].to_numpy(dtype=np.float64), spec.surrogate.transform, picked_by)
    body = proposals.to_csv(index=False).encode()
    proposals_hash = store.put_bytes(keys.proposals(round_number), body)
    tune_key = keys.step_record(round_number, Step.TUNE)
    best = None
    if len(train):
        values = train["value"].to_numpy(dtype=np.float64)
        best = float(values.max() if spec.objective.direction == "maximize" else values.min())
    record = {
        "round": round_number,
        "strategy": strategy,
        "surrogate": spec.surrogate.kind,
        "encoding": spec.surrogate.encoding,
        "measured": int(len(measured)),
        "failed_excluded": int(len(ctx.failed)),
        "pending_excluded": int(len(ctx.pending)),
        "proposed": int(len(rows)),
        "related": ({"tasks": list(ctx.related_tasks), "measurements": int(len(ctx.related.rows)),
                     **(getattr(model, "related_choice", None) or {"used": False})} if ctx.related else None),
        "picked": int(len(ctx.picked)),
        "picked_by": ctx.inputs.picked_by if len(ctx.picked) else None,
        "best_measured": best,
        "direction": spec.objective.direction,
        "measurements_sha256": ctx.inputs.measurements_sha256,
        "spec_sha256": ctx.inputs.spec_sha256,
        "tune_sha256": store.content_hash(tune_key) if store.exists(tune_key) else None,
        "cascade": cascade,
        "shards": shards,
        "objectives": multi if multi is not None else _single_objective_note(ctx),
        "zero_shot": ctx.zero_shot,
        "prior": spec.surrogate.prior,
        "prior_weight": prior_weight,
        "kernel_choice": kernel_choice(model),
        "local": local_note(library, hood, near, why_not),
        "prediction_scale": "objective" if spec.surrogate.transform == "none" else "normal score",
        "proposals_uri": store.uri(keys.proposals(round_number)),
        "proposals_sha256": proposals_hash,
        "seconds": cost["wall_seconds"],
        "cost": cost,
    }
    return write_record(store, key, record)


def _round_neighbourhood(ctx: RoundContext, round_number: int) -> Neighbourhood | None:
    """The round's neighbourhood of its best measured variants (``None``: no local part)."""
    return neighbourhood(ctx.library, ctx.spec.acquisition.local, round_number, min(ctx.model_batch, ctx.available),
                         ctx.measured, ctx.targets)


SMALL = "the batch is too small for acquisition.local.fraction"


def _why_no_local(spec: CampaignSpec, round_number: int, otherwise: str) -> str:
    """Why a round has no local part: before ``fromRound``, turned off, or ``otherwise``."""
    local = spec.acquisition.local
    if round_number < local.from_round:
        return f"from round {local.from_round}"
    return "off (acquisition.local.fraction 0)" if local.fraction == 0 else otherwise


def local_note(library: Library, hood: Neighbourhood | None, proposed: int, why_not: str) -> dict:
    """The round's record of its local search: around which variants, among how many neighbours,
    how many proposals (or why none)."""
    if hood is None:
        return {"proposed": 0, "why_not": why_not}
    return {"proposed": int(proposed), "planned": hood.size, "around": library.names_of(hood.centres),
            "neighbours": int(len(hood.rows))}


def _propose(store: ArtifactStore, ctx: RoundContext, round_number: int, hood: Neighbourhood | None) -> tuple:
    """One process: fit and choose (through the cascade's students when it applies; they choose from
    the whole library, without a neighbourhood)."""
    spec, library, measured = ctx.spec, ctx.library, ctx.measured
    y = ctx.sign * ctx.train["value"].to_numpy(dtype=np.float64)
    available = ctx.available_mask
    featurise = featuriser(store, spec, library, round_number)
    cascade = None
    if use_cascade(spec, library):
        X_measured = featurise(measured)
        sent, cascade = cascade_candidates(store, spec, library, round_number, featurise, measured,
                                           X_measured, ctx.targets, available, ctx.seed)
        # the sub-problem: measured rows first, then the candidates the teacher sees
        candidates = np.concatenate([measured, sent])
        X: np.ndarray | Candidates = np.vstack([X_measured, featurise(sent)])
        prior_rows = candidates
        sub_measured, sub_excluded = np.arange(len(measured)), np.zeros(0, dtype=np.int64)
    else:
        candidates = None
        X = Candidates(len(library), featurise, candidate_chunk(spec, library))  # features a chunk at a time
        prior_rows = np.arange(len(library))
        sub_measured, sub_excluded = measured, ctx.blocked
    choosable = int(available.sum()) if candidates is None else len(candidates) - len(measured)
    result = propose_batch(
        X,
        sub_measured,
        y,
        min(ctx.model_batch, choosable),
        surrogate=spec.surrogate.kind,
        acquisition=spec.acquisition.strategy,
        transform=spec.surrogate.transform,
        excluded=sub_excluded,
        seed=ctx.seed,
        prior=ctx.scores[prior_rows] if ctx.scores is not None and spec.surrogate.prior == "zeroShot" else None,
        related=ctx.related if candidates is None else None,  # a cascade's sub-problem has no related rows
        local=hood,
    )
    rows = result.rows if candidates is None else candidates[result.rows]
    # the candidates as the model sees them (its task and prior columns), for the picks' predictions
    return (rows, result.prediction, result.surrogate, cascade, round_candidates(store, ctx, round_number, featurise),
            result.local)


def kernel_choice(model: object) -> dict | None:
    """Which kernel a surrogate that chooses one at each fit kept, and why (``None`` otherwise)."""
    choice = getattr(model, "kernel_choice", None)
    return choice if choice is not None else getattr(getattr(model, "inner", None), "kernel_choice", None)


def usable_objectives(ctx: RoundContext) -> list[int]:
    """The objectives (indices) with at least two measured values in this round's inputs."""
    from activeloop.steps.objectives import value_matrix

    data = ctx.data if ctx.data is not None else ctx.train
    Y = value_matrix(ingest.in_library(data[~data["failed"]] if "failed" in data else data, ctx.library),
                     ctx.spec.all_objectives)
    return [j for j in range(Y.shape[1]) if np.isfinite(Y[:, j]).sum() >= 2]


def _single_objective_note(ctx: RoundContext) -> dict | None:
    """For a campaign with several objectives whose round chose by the first alone: why."""
    if not ctx.spec.further_objectives or len(ctx.measured) < 2:
        return None
    names = [o.name for o in ctx.spec.all_objectives]
    return {"strategy": "first objective only", "names": names,
            "used": [names[j] for j in usable_objectives(ctx)],
            "note": "the further objectives have fewer than two measured values each"}


def _propose_multi(store: ArtifactStore, ctx: RoundContext, round_number: int, used: list[int]) -> tuple:
    """Several objectives: one surrogate per objective with at least two values, the batch chosen
    by ``acquisition.multiObjective`` (``ml.multiobjective``), thresholds met first."""
    from activeloop.ml.multiobjective import propose_multi
    from activeloop.steps.objectives import model_objectives, value_matrix

    spec, library = ctx.spec, ctx.library
    assert ctx.data is not None
    data = ingest.in_library(ctx.data[~ctx.data["failed"]], library)
    objectives = [spec.all_objectives[j] for j in used]
    Y = value_matrix(data, spec.all_objectives)[:, used]
    keep = np.isfinite(Y).any(axis=1)
    cands = round_candidates(store, ctx, round_number)
    result = propose_multi(cands, library.rows_of(data["variant"][keep]), Y[keep],
                           min(ctx.model_batch, ctx.available), model_objectives(objectives),
                           strategy=spec.acquisition.multi_objective, surrogate=spec.surrogate.kind,
                           transform=spec.surrogate.transform, excluded=ctx.blocked, seed=ctx.seed)
    first = result.surrogates[0]  # the first objective's model: the proposals' predictions
    with single_threaded():
        pred = first.predict(cands.features(result.rows))
    record = {"strategy": spec.acquisition.multi_objective, "names": [o.name for o in spec.all_objectives],
              "used": [o.name for o in objectives],
              "measured": [int(np.isfinite(Y[:, j]).sum()) for j in range(len(used))],
              "thresholds": {o.name: o.threshold for o in objectives if o.threshold is not None},
              "weights": {o.name: o.weight for o in objectives}}
    return result.rows, pred, first, record, cands


def _merge_shards(store: ArtifactStore, ctx: RoundContext, round_number: int, hood: Neighbourhood | None) -> tuple:
    """A sharded round: the shards' top lists merged, then the strategy's joint choice and the
    neighbourhood's part (the batch :func:`~activeloop.ml.loop.propose_batch` would choose in
    one process)."""
    spec = ctx.spec
    n = spec.acquisition.shards
    tops = read_shard_tops(store, round_number, n)
    model = load_round_surrogate(store, round_number)
    cands = round_candidates(store, ctx, round_number)
    strategy = get_strategy(spec.acquisition.strategy)
    yt = ctx.targets
    best_f = float(yt.max())
    q = min(ctx.model_batch, ctx.available)
    rng = np.random.default_rng(ctx.seed)
    with single_threaded():
        shortlist = merge_shards(strategy, tops, q, ctx.available, best_f)
        rows, near = choose_batch(strategy, model, cands, shortlist, q, best_f, rng, hood, ctx.available_mask)
        pred = model.predict(cands.features(rows))
    summary = {"shards": n, "ranked": int(sum(t.ranked for t in tops)), "shortlist": int(len(shortlist)),
               "shard_uris": [store.uri(keys.shard(round_number, i)) for i in range(n)]}
    return rows, pred, model, summary, cands, near


