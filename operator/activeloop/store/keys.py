"""Where each of a campaign's artifacts lives in its store: every key is defined here, once.

Keys are relative to the campaign's prefix (a run directory on a workstation, ``s3://bucket/
<namespace>/<campaign>`` on a cluster)::

    campaign.yaml                          the live campaign spec
    status.json                            the campaign's status (workstation; on a cluster: the Campaign)
    assays/<name>.csv, <name>.json         plates as recorded (rows, metadata)
    assays/originals/<name>.<ext>          a plate's file as the lab sent it
    activity/<time>-<kind>.json            who created or extended the campaign, and when (workstation)
    notifications/<event>.json             an event notified (at most one message per event)
    measurements.csv                       one row per variant, derived from the assays
    rounds/round-NNN/status.json           the round's status (workstation; on a cluster: the LoopRound)
    rounds/round-NNN/jobs/<step>.json      a step run in-process (workstation; on a cluster: the Job)
    rounds/round-NNN/inputs.json           the round's pinned inputs (``steps.snapshot``)
    rounds/round-NNN/inputs/...            their copies: campaign.yaml, measurements.csv
    rounds/round-NNN/<step>.json           what a step used and produced (tune, acquire)
    rounds/round-NNN/started.json          who started the round (and started it again), when (workstation)
    rounds/round-NNN/proposals.csv         the batch: variant, rank, prediction, interval, score
    rounds/round-NNN/model/...             tuned adapters (encoding esm + LoRA)
    rounds/round-NNN/surrogate.pkl         a sharded round's fitted surrogate
    rounds/round-NNN/shards/shard-IIII.json  a shard's top list
    rounds/round-NNN/cascade.csv           the candidates a cascade sent to the teacher
    rounds/round-NNN/closed.json           the lab closed the round (workstation; on a cluster: spec.close)
    library/variants.csv                   a variant list stored with the campaign
    zero-shot/<hash>.npy, <hash>.json      the library's zero-shot scores
    students/<student>/...                 a StudentModel's ONNX files and metrics
"""

from __future__ import annotations

import re

SPEC = "campaign.yaml"
MEASUREMENTS = "measurements.csv"
MEASUREMENTS_SOURCE = ".measurements-source.json"
"""Which plates ``measurements.csv`` was derived from, and its hash (workstation: a command reads
the copy only when both still hold, and derives the table again otherwise)."""
CAMPAIGN_STATUS = "status.json"
ASSAYS = "assays/"
ROUNDS = "rounds/"
ZERO_SHOT = "zero-shot/"
STUDENTS = "students/"
PROPOSALS_FILE = "proposals.csv"
LIBRARY = "library/"
ORIGINALS = f"{ASSAYS}originals/"
ACTIVITY = "activity/"
NOTIFICATIONS = "notifications/"
ORIGINAL_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm")

_ROUND = re.compile(r"^rounds/round-(\d{3,})/")


def round_prefix(round_number: int) -> str:
    """Key prefix of a round: ``rounds/round-007``."""
    return f"{ROUNDS}round-{round_number:03d}"


def round_of(key: str) -> int | None:
    """The round a key belongs to (``rounds/round-007/x`` -> 7), else ``None``."""
    m = _ROUND.match(key)
    return int(m.group(1)) if m else None


def assay_rows(name: str) -> str:
    """A recorded plate's rows in canonical form."""
    return f"{ASSAYS}{name}.csv"


def assay_meta(name: str) -> str:
    """A recorded plate's metadata (the commit point of recording it: written last)."""
    return f"{ASSAYS}{name}.json"


def assay_name(key: str) -> str | None:
    """The plate a metadata key names (``assays/p1.json`` -> ``p1``), else ``None``."""
    if key.startswith(ASSAYS) and key.endswith(".json") and "/" not in key[len(ASSAYS):]:
        return key[len(ASSAYS):-len(".json")]
    return None


def library_file(filename: str) -> str:
    """A variant list stored with the campaign (``init`` copies a local one here)."""
    return f"{LIBRARY}{filename}"


def assay_original(name: str, suffix: str) -> str:
    """A recorded plate's file as the lab sent it (``suffix``: ``.csv``, ``.xlsx`` ...)."""
    return f"{ORIGINALS}{name}{suffix}"


def activity(stamp: str, kind: str) -> str:
    """A change to the campaign by a person (created, extended), named by its time and kind."""
    return f"{ACTIVITY}{stamp}-{kind}.json"


def notification(event: str) -> str:
    """The record that an event was notified (written before the message is sent)."""
    return f"{NOTIFICATIONS}{event}.json"


def round_started(round_number: int) -> str:
    """Who started a round (and started it again), and when (workstation)."""
    return f"{round_prefix(round_number)}/started.json"


def inputs(round_number: int) -> str:
    """A round's pinned inputs (hashes of the spec and measurements it reads)."""
    return f"{round_prefix(round_number)}/inputs.json"


def pinned_spec(round_number: int) -> str:
    """The spec pinned when the round started."""
    return f"{round_prefix(round_number)}/inputs/{SPEC}"


def pinned_measurements(round_number: int) -> str:
    """The measurements pinned when the round started."""
    return f"{round_prefix(round_number)}/inputs/{MEASUREMENTS}"


def pinned_related(round_number: int) -> str:
    """The related assays' measurements pinned when the round started (a second task)."""
    return f"{round_prefix(round_number)}/inputs/related-{MEASUREMENTS}"


def step_record(round_number: int, step: str) -> str:
    """What a step of a round used and produced (``tune.json``, ``acquire.json``)."""
    return f"{round_prefix(round_number)}/{step}.json"


def proposals(round_number: int) -> str:
    """A round's proposals (variant, rank, mean, std)."""
    return f"{round_prefix(round_number)}/{PROPOSALS_FILE}"


def model_prefix(round_number: int) -> str:
    """Where a round's tuned adapters are."""
    return f"{round_prefix(round_number)}/model"


def surrogate(round_number: int) -> str:
    """A sharded round's fitted surrogate (one fit, read by every shard)."""
    return f"{round_prefix(round_number)}/surrogate.pkl"


def shards_prefix(round_number: int) -> str:
    """Where a sharded round's shards write their top lists."""
    return f"{round_prefix(round_number)}/shards"


def shard(round_number: int, index: int) -> str:
    """Shard ``index``'s top list (``steps.score``)."""
    return f"{shards_prefix(round_number)}/shard-{index:04d}.json"


def cascade(round_number: int) -> str:
    """The candidates a cascade round sent to the teacher."""
    return f"{round_prefix(round_number)}/cascade.csv"


def closed(round_number: int) -> str:
    """The lab closed the round (workstation)."""
    return f"{round_prefix(round_number)}/closed.json"


def round_status(round_number: int) -> str:
    """A round's status (workstation)."""
    return f"{round_prefix(round_number)}/status.json"


def job(round_number: int, step: str) -> str:
    """A step of a round run in-process (workstation): started, finished, outcome."""
    return f"{round_prefix(round_number)}/jobs/{step}.json"


def zero_shot(digest: str, suffix: str = ".npy") -> str:
    """The library's zero-shot scores (``.npy``) or their record (``.json``), by what determines them."""
    return f"{ZERO_SHOT}{digest}{suffix}"


def student_file(student: str, filename: str) -> str:
    """A file of a StudentModel (``metrics.json``, ``student-0.onnx`` ...)."""
    return f"{STUDENTS}{student}/{filename}"


def student_metrics(student: str) -> str:
    """A StudentModel's figures."""
    return student_file(student, "metrics.json")


SERVABLE = re.compile(
    r"^(campaign\.yaml|measurements\.csv|rounds/round-\d{3,}/(proposals|cascade)\.csv|"
    r"rounds/round-\d{3,}/(inputs|tune|acquire)\.json|students/[a-z0-9][-a-z0-9]*/[-a-z0-9_.]+\.(onnx|json)|"
    r"assays/[a-z0-9][-a-z0-9]*\.(csv|json)|assays/originals/[a-z0-9][-a-z0-9]*\.(csv|tsv|txt|xlsx|xlsm))$")
"""Keys a person may download (through the web interface); anything else is not found."""


def servable(key: str) -> bool:
    """Whether ``key`` may be served to a person (no path tricks, no internal files)."""
    return bool(SERVABLE.match(key)) and ".." not in key


ARCHIVED = re.compile(
    r"^(campaign\.yaml|status\.json|measurements\.csv|library/[^/]+|activity/[^/]+\.json|assays/[^/]+\.(csv|json)|"
    r"assays/originals/[^/]+|rounds/round-\d{3,}/([a-z]+\.(json|csv)|inputs/[^/]+|jobs/[a-z]+\.json))$")
"""Keys a campaign archive holds: the spec, the plates (and their files), each round's status,
inputs, records and proposals, the activity; not the tuned models, zero-shot scores or students,
which can be made again."""


def archived(key: str) -> bool:
    """Whether ``key`` belongs in the campaign's archive."""
    return bool(ARCHIVED.match(key)) and ".." not in key


__all__ = [
    "ACTIVITY",
    "ARCHIVED",
    "ASSAYS",
    "LIBRARY",
    "NOTIFICATIONS",
    "ORIGINALS",
    "ORIGINAL_SUFFIXES",
    "CAMPAIGN_STATUS",
    "MEASUREMENTS",
    "PROPOSALS_FILE",
    "ROUNDS",
    "SERVABLE",
    "SPEC",
    "STUDENTS",
    "ZERO_SHOT",
    "activity",
    "archived",
    "assay_meta",
    "assay_original",
    "assay_name",
    "assay_rows",
    "cascade",
    "closed",
    "inputs",
    "job",
    "library_file",
    "model_prefix",
    "notification",
    "pinned_measurements",
    "pinned_spec",
    "proposals",
    "round_of",
    "round_prefix",
    "round_started",
    "round_status",
    "servable",
    "shard",
    "shards_prefix",
    "step_record",
    "student_file",
    "student_metrics",
    "surrogate",
    "zero_shot",
]
