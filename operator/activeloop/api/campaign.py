"""The campaign spec: the one source of truth for a campaign, locally and on a cluster.

Field names are snake_case in Python and camelCase in YAML/Kubernetes (``batchSize``); both are
accepted when reading. Unknown fields are refused, so a typo never silently becomes a default.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, WithJsonSchema, field_validator, model_validator

from activeloop.api.base import Model
from activeloop.api.names import (
    Encoding,
    InitialStrategy,
    Strategy,
    SurrogateKind,
    SurrogatePrior,
    TuningLoss,
    ZeroShotScorer,
)
from activeloop.api.sequence import AMINO_ACIDS, validate_sequence
from activeloop.api.sites import Motif, SiteSpec, count_rows, parse_motif, site_residues
from activeloop.api.wells import well_name
from activeloop.errors import InputError

SiteEntry = Annotated[
    int | SiteSpec,
    WithJsonSchema({
        "x-kubernetes-preserve-unknown-fields": True,
        "description": "A 1-based position (39), or a position with its own residues "
                       "({position: 39, residues: AVILMFWY}).",
    }),
]
"""A site as written: a position, or a :class:`SiteSpec` (both kinds in one list)."""


class LibrarySpec(Model):
    """The candidate library: combinations of residues at ``sites`` (with constraints), or a list."""

    sites: list[SiteEntry] = Field(
        default_factory=list,
        description=(
            "Positions mutated combinatorially, each a 1-based position (e.g. [39, 40, 41, 54] for "
            "GB1) or {position, residues} with the site's own residue set."
        ),
    )
    alphabet: str = Field(
        AMINO_ACIDS, description="Residues allowed at a site without its own (default: the 20 amino acids)."
    )
    max_substitutions: int | None = Field(
        None, ge=1,
        description="Most substitutions from the parent in one variant (default: every site may change).",
    )
    forbidden: list[str] = Field(
        default_factory=list,
        description=(
            "Residues or motifs no variant may introduce, e.g. C (no new cysteine) or N[^P][ST] (no "
            "new glycosylation site): residue letters, X or . for any, [ST] one of, [^P] any but. "
            "Occurrences already in the parent are kept."
        ),
    )
    variants_uri: str | None = Field(
        None,
        description="Artifact URI or path of a CSV with a 'variant' column; instead of sites.",
    )
    max_candidates: int = Field(
        5_000_000, ge=1,
        description=(
            "Most candidates one process scores: the library divided by acquisition.shards must not "
            "exceed it (a guard against a typo in sites; a process needs about 60 bytes per "
            "candidate it scores, plus a fixed 1 GB)."
        ),
    )
    exclude: list[str] = Field(
        default_factory=list, description="Variants never to propose (e.g. known to misfold)."
    )

    @field_validator("alphabet")
    @classmethod
    def _alphabet(cls, v: str) -> str:
        v = validate_sequence(v, "library.alphabet")
        if len(set(v)) != len(v):
            raise ValueError("repeats a residue")
        return v

    @field_validator("sites")
    @classmethod
    def _sites(cls, v: list[int | SiteSpec]) -> list[int | SiteSpec]:
        positions = [s.position if isinstance(s, SiteSpec) else s for s in v]
        if any(s < 1 for s in positions):
            raise ValueError("sites are 1-based positions, each at least 1")
        seen: set[int] = set()
        for s in positions:
            if s in seen:
                raise ValueError(f"site {s} is listed twice")
            seen.add(s)
        return v

    @field_validator("forbidden")
    @classmethod
    def _forbidden(cls, v: list[str]) -> list[str]:
        for i, text in enumerate(v):
            try:
                parse_motif(text, "forbidden")
            except InputError as exc:
                raise ValueError(f"item {i + 1}: {exc.problem}") from None
        return [t.strip().upper() for t in v]

    @model_validator(mode="after")
    def _one_source(self) -> LibrarySpec:
        if bool(self.sites) == bool(self.variants_uri):
            raise ValueError("give exactly one of sites or variantsUri")
        if self.variants_uri and (self.max_substitutions is not None or self.forbidden):
            raise ValueError("maxSubstitutions and forbidden constrain a site library; a variant list is "
                             "taken as given (leave variants out of the list, or list them in exclude)")
        return self

    @property
    def positions(self) -> list[int]:
        """The sites' 1-based positions, in row-digit order."""
        return [s.position if isinstance(s, SiteSpec) else s for s in self.sites]

    @property
    def motifs(self) -> list[Motif]:
        """The compiled ``forbidden`` motifs."""
        return [parse_motif(t, f"library.forbidden[{i}]") for i, t in enumerate(self.forbidden)]

    @property
    def own_residues(self) -> list[str]:
        """Each site's residue set as written (its own, else ``alphabet``)."""
        return [s.residues if isinstance(s, SiteSpec) and s.residues else self.alphabet for s in self.sites]

    def residues(self, parent: str) -> list[str]:
        """Each site's residue set after the one-residue forbidden motifs (see ``api.sites``)."""
        return site_residues(parent, self.positions, self.own_residues, self.motifs)

    def combinations(self, parent: str) -> int:
        """Rows of a site library under its per-site residues and substitution budget (before
        longer motifs and ``exclude``, which ``ml.library`` takes out); 0 for a variant list."""
        if not self.sites:
            return 0
        residues = self.residues(parent)
        return count_rows([len(r) for r in residues],
                          [parent[p - 1] in r for p, r in zip(self.positions, residues)],
                          self.max_substitutions)

    def describe(self, parent: str | None = None) -> str:
        """The library's shape in words (``20 x 20 x 8 x 20, at most 2 substitutions``, ``20^4``);
        with the ``parent``, the sets' sizes after the forbidden residues."""
        sizes = [len(r) for r in (self.residues(parent) if parent else self.own_residues)]
        text = (f"{sizes[0]}^{len(sizes)}" if len(set(sizes)) == 1 and len(sizes) > 1
                else " x ".join(map(str, sizes)))
        if self.max_substitutions is not None:
            text += f", at most {self.max_substitutions} substitutions"
        if self.forbidden:
            text += ", forbidding " + ", ".join(self.forbidden)
        return text


def check_library_size(candidates: int, library: LibrarySpec, shards: int, what: str) -> None:
    """Raise ``ValueError`` saying what to change when a process would score more than
    ``library.maxCandidates`` (``candidates`` over ``shards`` shards)."""
    per_shard = -(-candidates // shards)
    if per_shard <= library.max_candidates:
        return
    needed = -(-candidates // library.max_candidates)
    raise ValueError(
        f"{what} = {candidates:,} candidates in {shards} shard(s) is {per_shard:,} per process, over "
        f"library.maxCandidates ({library.max_candidates:,}); set acquisition.shards to at least {needed} "
        "(Kubernetes Jobs on a cluster, processes with `propose --jobs` on a workstation), raise "
        "maxCandidates (about 60 bytes per candidate plus a fixed 1 GB per process), or give fewer "
        "sites or a smaller alphabet"
    )


OBJECTIVE_NAME = r"^[A-Za-z][A-Za-z0-9_-]{0,39}$"
"""A further objective's name (a plate's column, a key of an AssayResult's ``values``)."""


class ObjectiveSpec(Model):
    """What is measured, which direction is better and (several objectives) its threshold and weight."""

    name: str = Field("fitness", description="Name of the measured quantity (a plate's column of that name "
                                             "holds its values).")
    direction: Literal["maximize", "minimize"] = Field("maximize", description="Better is ...")
    unit: str | None = Field(None, description="Unit of measured values, if any.")
    threshold: float | None = Field(
        None, description="Several objectives: a value a proposal should reach (at least this when maximised, at "
        "most when minimised), e.g. expression >= 0.5; a constraint on the model's prediction.")
    weight: float = Field(1.0, gt=0, le=1000, description="Several objectives: how much it counts in the "
                                                          "desirability strategy (relative to the others).")

    def better(self, value: float) -> float:
        """``value`` in higher-is-better units."""
        return value if self.direction == "maximize" else -value


class BackboneSpec(Model):
    """The pre-trained protein language model."""

    model: str = Field(
        "facebook/esm2_t6_8M_UR50D",
        description=(
            "Hugging Face model id or local directory of an ESM-2 model, or UniRep "
            "(unirep:64, unirep:256, unirep:1900, or a UniRep .npz)."
        ),
    )
    revision: str | None = Field(None, description="Model revision (commit or tag) to pin.")
    max_length: int = Field(1024, ge=8, description="Longest sequence fed to the model.")


class LoraSpec(Model):
    """LoRA fine-tuning of the backbone on measured variants (used with encoding 'esm')."""

    enabled: bool = Field(True, description="Tune adapters; false uses frozen embeddings.")
    rank: int = Field(8, ge=1, le=256, description="LoRA rank r.")
    alpha: float = Field(16.0, gt=0, description="LoRA scaling alpha.")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA path.")
    target_modules: list[str] = Field(
        default_factory=list,
        description=(
            "Names of the backbone modules that receive adapters "
            "(empty: the backbone's default; ESM-2 query/key/value, UniRep wx/wh)."
        ),
    )
    epochs: int = Field(10, ge=1, le=1000, description="Most epochs per round (early stopping may end sooner).")
    learning_rate: float | None = Field(
        None, gt=0, description="AdamW learning rate (default: one that suits the backbone, 3e-4 ESM-2, 1e-3 UniRep)."
    )
    batch_size: int = Field(16, ge=1, description="Sequences per optimisation step.")
    loss: TuningLoss = Field("mse", description="Objective: mse, or ranking (pairwise Bradley-Terry).")
    validation: float = Field(
        0.2, ge=0, lt=1, description="Fraction held out for early stopping (needs at least 10 variants; 0 disables)."
    )
    patience: int = Field(3, ge=1, description="Epochs without a better validation Spearman before stopping.")
    cv_folds: int = Field(
        3, ge=0, le=10,
        description=(
            "Folds of the per-round comparison of the tuned model with the frozen one (cross-validated "
            "Spearman); the surrogate uses the better. 0: no comparison, always the tuned model."
        ),
    )


class SurrogateSpec(Model):
    """The model with uncertainty that ranks candidates."""

    kind: SurrogateKind = Field(
        "gp_epistasis_auto",
        description="The surrogate model (the default: the epistasis GP whose highest interaction order, 4 or 2, "
        "is chosen each round by held-out likelihood; gp_epistasis keeps order 4).")
    encoding: Encoding = Field(
        "onehot", description="Features: residues (onehot, physchem) or the language model (esm)."
    )
    transform: Literal["none", "rank"] = Field(
        "rank", description="Target transform before fitting (rank: normal scores; the default)."
    )
    prior: SurrogatePrior = Field(
        "none",
        description=(
            "zeroShot: the library's zero-shot scores as prior knowledge (a GP's prior mean with a "
            "weight learned from the data, which goes to about zero when the scores do not help; an "
            "input feature of ensembles)."
        ),
    )


class ZeroShotSpec(Model):
    """Zero-shot scores of the library, computed once per campaign before any assay."""

    scorer: ZeroShotScorer = Field(
        "backbone",
        description=(
            "backbone: the campaign's language model (ESM-2: masked-marginal log-ratios summed over "
            "the mutated sites; UniRep: log-likelihood ratio to the parent); hamming: fewer "
            "substitutions is better (needs no model)."
        ),
    )
    mode: Literal["masked", "wildtype"] = Field(
        "masked",
        description="ESM-2: mask each site in the parent (masked), or one pass of the parent (wildtype; faster).",
    )


class InitialBatchSpec(Model):
    """How the first batch is chosen, when nothing is measured yet."""

    strategy: InitialStrategy = Field(
        "random",
        description=(
            "random: uniformly (the ALDE protocol); zeroShot: the best by zero-shot score; "
            "focused: at random among the top topFraction by zero-shot score, spread over sites."
        ),
    )
    top_fraction: float = Field(
        0.02, gt=0, le=1,
        description="focused: the share of the library, best by zero-shot score, to draw from.",
    )
    max_share: float = Field(
        0.25, gt=0, le=1,
        description=(
            "focused: the most of the batch that may carry one mutant residue at one site "
            "(spreads the batch over sites and residues)."
        ),
    )


class CascadeSpec(Model):
    """Cascade scoring: students score the library, the teacher only the candidates that matter."""

    mode: Literal["auto", "always", "never"] = Field(
        "auto",
        description=(
            "auto: when the surrogate's features come from a language model (encoding esm) and "
            "the library has at least minLibrary variants; always; never."
        ),
    )
    min_library: int = Field(20_000, ge=1, description="Library size from which auto applies.")
    fraction: float = Field(
        0.02, gt=0, le=1, description="Fraction of the library sent to the teacher."
    )
    uncertain_share: float = Field(
        0.5, ge=0, le=1,
        description="Share of those chosen by student disagreement (the rest by students' UCB).",
    )
    students: int = Field(4, ge=1, le=32, description="Students in the ensemble.")
    channels: int = Field(16, ge=1, le=512, description="Channels of each CNN student.")
    unlabelled: int = Field(
        5_000, ge=10, description="Library variants the teacher labels for the students."
    )
    epochs: int = Field(30, ge=1, le=1000, description="Student training epochs.")


class LocalSpec(Model):
    """Part of each batch spent next to the best variants measured so far: in a sparse landscape
    (most combinations dead) the fittest variants sit one substitution from other fit ones, and a
    model trained on a few hundred variants ranks a whole library less well than it ranks the
    neighbours of what it has already seen."""

    fraction: float = Field(
        0.25, ge=0, le=1,
        description="Share of each batch chosen by Thompson sampling among the variants one substitution from "
        "the best measured ones (0: off).")
    around: int = Field(3, ge=1, le=96, description="How many of the best measured variants the neighbourhood "
                        "is taken around.")
    from_round: int = Field(
        4, ge=1, le=1000,
        description="The first round that spends part of its batch there (round 1 is the first batch; earlier "
        "rounds explore the whole library).")


class AcquisitionSpec(Model):
    """How the next batch is chosen."""

    strategy: Strategy = Field("thompson", description="How the batch is chosen.")
    batch_size: int = Field(96, ge=1, le=10_000, description="Variants proposed per round.")
    cascade: CascadeSpec = Field(default_factory=CascadeSpec)
    local: LocalSpec = Field(default_factory=LocalSpec)
    shards: int = Field(
        1, ge=1, le=1000,
        description=(
            "Score the library in this many slices (a Kubernetes Indexed Job on a cluster; processes "
            "on a workstation with `propose --jobs`), each keeping its best candidates; the merge "
            "chooses the batch one process would choose. For libraries of tens of millions."
        ),
    )
    parallelism: int = Field(
        2, ge=1, le=1000, description="On a cluster: shards running at once (the Indexed Job's parallelism)."
    )
    multi_objective: Literal["desirability", "pareto", "nehvi"] = Field(
        "desirability",
        description="With several objectives: desirability (Thompson sampling of the weighted sum of the "
        "objectives' normal scores; the best hypervolume on the GB1 benchmark), pareto (random Chebyshev "
        "weightings per batch slot; no weights needed) or nehvi (BoTorch's qLogNEHVI over a shortlist; slow, "
        "for small libraries). Thresholds are met first in all three.",
    )


class ControlSpec(Model):
    """Control wells that every plate carries, in the same wells on every plate."""

    kind: Literal["parent", "blank", "reference"] = Field(
        description="parent: the parent (wild type); blank: no protein (the background); reference: a "
        "known variant.")
    variant: str | None = Field(None, description="The reference variant (reference controls only).")
    wells: list[str] = Field(min_length=1, max_length=96, description="Its wells on every plate (A1, H12 ...).")

    @model_validator(mode="after")
    def _variant(self) -> ControlSpec:
        if self.kind == "reference" and not self.variant:
            raise ValueError("a reference control names its variant")
        if self.kind != "reference" and self.variant:
            raise ValueError(f"a {self.kind} control has no variant (only reference controls do)")
        return self


class PlatesSpec(Model):
    """The plates the lab assays on: their format, their control wells, and how controls
    normalise a plate's values (so plate-to-plate and day-to-day drift is not read as fitness)."""

    size: Literal[96, 384] = Field(96, description="Wells per plate.")
    controls: list[ControlSpec] = Field(
        default_factory=list, description="Control wells of every plate; the plate map leaves them free.")
    normalize: Literal["none", "parentRatio", "parentDifference"] = Field(
        "none", description="Per plate: each value divided by (parentRatio) or less (parentDifference) the "
        "mean of the plate's parent wells; none: values as measured.")
    control_tolerance: float = Field(
        0.25, gt=0, le=10,
        description="A plate is flagged when its controls' coefficient of variation, or its parent mean's "
        "relative distance from the campaign's median parent mean, is above this.")

    @model_validator(mode="after")
    def _wells(self) -> PlatesSpec:
        seen: dict[str, int] = {}
        names = []
        for i, c in enumerate(self.controls):
            for w in c.wells:
                try:
                    name = well_name(w, self.size)
                except ValueError as exc:
                    raise ValueError(f"controls[{i}].wells: {exc}") from None
                if name in seen:
                    raise ValueError(f"controls[{i}].wells: {name} is also a well of controls[{seen[name]}]")
                seen[name] = i
            names.append(c.kind)
        if self.normalize != "none" and "parent" not in names:
            raise ValueError(f"normalize {self.normalize} needs parent control wells: add a control of kind parent")
        if len(seen) >= self.size:
            raise ValueError(f"controls take {len(seen)} of the plate's {self.size} wells: none is left for variants")
        return self

    @property
    def control_wells(self) -> dict[str, ControlSpec]:
        """Each control well (canonical name) and its control."""
        return {well_name(w, self.size): c for c in self.controls for w in c.wells}

    @property
    def free_wells(self) -> int:
        """Wells per plate left for proposed variants."""
        return self.size - len(self.control_wells)


NotifyEvent = Literal["proposalsReady", "roundFailed", "controlsDrift"]
NOTIFY_EVENTS: tuple[NotifyEvent, ...] = ("proposalsReady", "roundFailed", "controlsDrift")


class NotifySpec(Model):
    """Who hears of the campaign's events, and how (at most one message per event)."""

    webhook: str | None = Field(
        None, pattern=r"^https?://[^\s]+$", max_length=2048,
        description="URL that receives each event as JSON (Slack-compatible: a 'text' field).")
    email: list[str] = Field(
        default_factory=list, max_length=20,
        description="Addresses that receive each event (the server's SMTP settings send it).")
    events: list[NotifyEvent] = Field(
        default_factory=lambda: list(NOTIFY_EVENTS),
        description="Which events are sent.")

    @field_validator("email")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        for a in v:
            if not re.fullmatch(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+", a):
                raise ValueError(f"{a!r} is not an e-mail address")
        return v


class RoundTrigger(Model):
    """When a round counts as done, so that the next one may start."""

    min_fraction_measured: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Fraction of a round's proposals that must have a result (a value, or a failed "
        "well) before the next round starts (1.0: never train on a half-recorded batch).",
    )
    debounce_seconds: int = Field(
        30, ge=0, le=86_400,
        description="On a cluster: quiet time after the last AssayResult before the next round starts.",
    )


class CampaignSpec(Model):
    """A campaign: what to mutate, which models to use, and how many rounds to run."""

    parent_sequence: str = Field(description="Wild-type (parent) amino-acid sequence.")
    library: LibrarySpec = Field(description="The candidate library.")
    objective: ObjectiveSpec = Field(default_factory=ObjectiveSpec)
    objectives: list[ObjectiveSpec] = Field(
        default_factory=list, max_length=4,
        description="Two to four objectives (activity and expression ...), the first the campaign's primary one "
        "(it is `objective`); a plate gives one value column per objective, any of which may be missing for a "
        "well. Empty: the one `objective`.")
    backbone: BackboneSpec = Field(default_factory=BackboneSpec)
    lora: LoraSpec = Field(default_factory=LoraSpec)
    surrogate: SurrogateSpec = Field(default_factory=SurrogateSpec)
    acquisition: AcquisitionSpec = Field(default_factory=AcquisitionSpec)
    initial_batch_size: int = Field(
        96, ge=2, le=10_000, description="Variants in the first batch, when nothing is measured yet."
    )
    initial_batch: InitialBatchSpec = Field(
        default_factory=InitialBatchSpec, description="How the first batch is chosen."
    )
    zero_shot: ZeroShotSpec = Field(
        default_factory=ZeroShotSpec,
        description="Zero-shot scores (used by initialBatch zeroShot/focused and surrogate.prior zeroShot).",
    )
    rounds: int = Field(
        4, ge=1, le=1000,
        description="Rounds of proposals after the first batch (the campaign has rounds + 1 rounds).",
    )
    trigger: RoundTrigger = Field(default_factory=RoundTrigger, description="When a round is done.")
    plates: PlatesSpec = Field(default_factory=PlatesSpec, description="Plate format, control wells, normalisation.")
    notify: NotifySpec = Field(default_factory=NotifySpec, description="Notifications of the campaign's events.")
    seed: int = Field(0, ge=0, description="Seed for every random choice of the campaign.")

    @property
    def uses_zero_shot(self) -> bool:
        """Whether the campaign needs the library's zero-shot scores."""
        return self.initial_batch.strategy != "random" or self.surrogate.prior == "zeroShot"

    @property
    def all_objectives(self) -> list[ObjectiveSpec]:
        """Every objective, the primary one first (``[objective]`` for a single-objective campaign)."""
        return list(self.objectives) if len(self.objectives) > 1 else [self.objective]

    @property
    def further_objectives(self) -> list[ObjectiveSpec]:
        """The objectives after the primary one (none for a single-objective campaign)."""
        return self.all_objectives[1:]

    @property
    def total_rounds(self) -> int:
        """Rounds including the first batch: ``rounds + 1``."""
        return self.rounds + 1

    @field_validator("parent_sequence")
    @classmethod
    def _parent(cls, v: str) -> str:
        return validate_sequence(v, "parentSequence")

    @model_validator(mode="after")
    def _prior_supported(self) -> CampaignSpec:
        if self.surrogate.prior == "zeroShot" and self.surrogate.kind == "student_ensemble":
            raise ValueError("surrogate.prior: student_ensemble cannot use a zero-shot prior; "
                             "use a GP or an ensemble")
        return self

    @model_validator(mode="after")
    def _objectives(self) -> CampaignSpec:
        if not self.objectives:
            return self
        if len(self.objectives) == 1:
            raise ValueError("objectives: give two to four (one objective is `objective`)")
        first = self.objectives[0]
        if self.objective not in (ObjectiveSpec(), first):
            raise ValueError("objective and objectives[0] differ: give the objectives as a list only")
        seen: dict[str, int] = {}
        for i, o in enumerate(self.objectives):
            if i and not re.fullmatch(OBJECTIVE_NAME, o.name):
                raise ValueError(f"objectives[{i}].name: {o.name!r} is not a column name (a letter, then letters, "
                                 "digits, _ or -; at most 40)")
            key = o.name.lower()
            if key in seen or key in ("value", "variant", "well", "replicate", "failed", "status", "control"):
                why = f"repeats objectives[{seen[key]}]" if key in seen else "is a reserved column name"
                raise ValueError(f"objectives[{i}].name: {o.name!r} {why}")
            seen[key] = i
        object.__setattr__(self, "objective", first)
        if self.acquisition.shards > 1:
            raise ValueError("acquisition.shards: a campaign with several objectives scores its library in one "
                             "process; set shards to 1")
        if self.surrogate.encoding == "esm":
            raise ValueError("surrogate.encoding: several objectives use residue features (onehot, physchem); "
                             "the language model's embeddings are for one objective")
        return self

    @model_validator(mode="after")
    def _library_size(self) -> CampaignSpec:
        lib = self.library
        if lib.sites and max(lib.positions) <= len(self.parent_sequence):
            residues = lib.residues(self.parent_sequence)
            for i, r in enumerate(residues):
                if not r:
                    raise ValueError(f"library.sites[{i}]: site {lib.positions[i]} allows no residue once "
                                     f"forbidden {lib.forbidden} are left out")
            rows = lib.combinations(self.parent_sequence)
            check_library_size(rows, lib, self.acquisition.shards, f"library: {lib.describe(self.parent_sequence)}")
            size = rows - len(set(lib.exclude))
            for name, batch in (("initialBatchSize", self.initial_batch_size),
                                ("acquisition.batchSize", self.acquisition.batch_size)):
                if batch > size:
                    raise ValueError(f"{name}: {batch} is more than the library's {size:,} variants")
        if self.acquisition.shards > 1 and self.acquisition.cascade.mode == "always":
            raise ValueError("acquisition.cascade.mode 'always' and acquisition.shards > 1: a cascade "
                             "round scores the library in one process; set shards to 1 or cascade.mode to auto")
        return self

    @model_validator(mode="after")
    def _sites_in_parent(self) -> CampaignSpec:
        for s in self.library.positions:
            if s > len(self.parent_sequence):
                raise ValueError(
                    f"library.sites: site {s} is beyond the parent's {len(self.parent_sequence)} residues"
                )
        return self
