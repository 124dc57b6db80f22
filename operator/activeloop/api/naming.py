"""Names of the objects ActiveLoop makes on a cluster, and the labels and annotations it puts on
them: defined once, for the operator, the command line and the web interface alike."""

from __future__ import annotations

import hashlib

from activeloop.api.resources import GROUP

MANAGED_BY = "activeloop-operator"
"""``app.kubernetes.io/managed-by`` of every object the operator makes."""
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_CAMPAIGN = f"{GROUP}/campaign"
"""The campaign an object belongs to (LoopRounds, AssayResults, Jobs)."""
LABEL_ROUND = f"{GROUP}/round"
LABEL_STEP = f"{GROUP}/step"
LABEL_OWNER = f"{GROUP}/owner"
"""The StudentModel a distil Job belongs to."""
ANNOTATION_CONTENT_SHA = f"{GROUP}/content-sha256"
"""An AssayResult's measurements' content hash (re-sending the same plate creates nothing)."""
ANNOTATION_RECORDED_BY = f"{GROUP}/recorded-by"
"""Who recorded an AssayResult (the caller's Kubernetes username)."""
ANNOTATION_ORIGINAL = f"{GROUP}/original"
"""The store key of a plate's file as the lab sent it (an AssayResult recorded from a file)."""
ANNOTATION_CREATED_BY = f"{GROUP}/created-by"
ANNOTATION_CLOSED_BY = f"{GROUP}/closed-by"
ANNOTATION_CLOSED_AT = f"{GROUP}/closed-at"
ANNOTATION_RETRIED_BY = f"{GROUP}/retried-by"
ANNOTATION_RETRIED_AT = f"{GROUP}/retried-at"
ANNOTATION_EXTENDED_BY = f"{GROUP}/extended-by"
ANNOTATION_EXTENDED_AT = f"{GROUP}/extended-at"
"""Who changed a Campaign or LoopRound through ActiveLoop, and when (the latest change of each kind;
the API server's audit log has every one)."""


def dns_name(*parts: str | int, limit: int = 63) -> str:
    """``a-b-c`` lower-cased; names too long are cut and end in a short hash (stable)."""
    name = "-".join(str(p) for p in parts).lower()
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-')}-{digest}"


def round_name(campaign: str, round_number: int) -> str:
    """Name of a campaign's LoopRound."""
    return dns_name(campaign, f"r{round_number}")


def job_name(campaign: str, round_number: int, step: str, attempt: int = 0) -> str:
    """Name of a step Job of a round (Job names must fit in 63 characters); a round started again
    (``attempt`` 1, 2 ...) names new Jobs, and the failed ones stay for their logs."""
    return dns_name(campaign, f"r{round_number}", step, *([f"a{attempt}"] if attempt else []))


def distil_job_name(student: str) -> str:
    """Name of a StudentModel's distil Job."""
    return dns_name(student, "distil")


def labels(campaign: str, round_number: int | None = None, step: str | None = None) -> dict[str, str]:
    """Labels of every object made for a campaign (round and step where they apply)."""
    out = {LABEL_NAME: "activeloop", LABEL_MANAGED_BY: MANAGED_BY, LABEL_CAMPAIGN: campaign}
    if round_number is not None:
        out[LABEL_ROUND] = str(round_number)
    if step is not None:
        out[LABEL_STEP] = str(step)
    return out


__all__ = [
    "ANNOTATION_CLOSED_AT",
    "ANNOTATION_CLOSED_BY",
    "ANNOTATION_CONTENT_SHA",
    "ANNOTATION_CREATED_BY",
    "ANNOTATION_EXTENDED_AT",
    "ANNOTATION_EXTENDED_BY",
    "ANNOTATION_ORIGINAL",
    "ANNOTATION_RECORDED_BY",
    "ANNOTATION_RETRIED_AT",
    "ANNOTATION_RETRIED_BY",
    "LABEL_CAMPAIGN",
    "LABEL_MANAGED_BY",
    "LABEL_NAME",
    "LABEL_OWNER",
    "LABEL_ROUND",
    "LABEL_STEP",
    "MANAGED_BY",
    "distil_job_name",
    "dns_name",
    "job_name",
    "labels",
    "round_name",
]
