"""What a campaign may ask of the cluster for its step Jobs, as the installation allows it: which
images may run, and where (node selectors, tolerations), per namespace. Pure functions over the
operator's configuration (the chart's values); a Campaign cannot grant itself more.

* **Images**: a step Job's image must be one of ``allowed_images`` (a repository, matching any tag
  or digest of it, or an exact reference); by default the chart's own worker images.
* **Placement**: every step pod of a namespace gets that namespace's ``nodeSelector`` and
  ``tolerations`` (or the ``"*"`` entry's); a Campaign may add only what one of the namespace's
  ``choices`` offers (e.g. the GPU nodes), never a selector or toleration of its own making.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from activeloop.api.resources import StepResources

DEFAULT_NAMESPACE = "*"
"""The placement of a namespace without one of its own."""


@dataclass(frozen=True)
class Placement:
    """Where a namespace's step pods run: what each gets, and what a Campaign may add."""

    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: Sequence[Mapping[str, Any]] = ()
    choices: Sequence[Mapping[str, Any]] = ()
    """Each: ``{"nodeSelector": {...}, "tolerations": [...]}`` a Campaign may ask for."""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Placement:
        """From the chart's values (camelCase keys)."""
        return cls(dict(d.get("nodeSelector") or {}), tuple(d.get("tolerations") or ()),
                   tuple(d.get("choices") or ()))


@dataclass(frozen=True)
class JobPolicy:
    """The installation's rules for step Jobs (see the module docstring)."""

    allowed_images: Sequence[str] = ()
    placements: Mapping[str, Placement] = field(default_factory=dict)

    def placement(self, namespace: str) -> Placement:
        """The placement of ``namespace``."""
        return self.placements.get(namespace) or self.placements.get(DEFAULT_NAMESPACE) or Placement()


def image_allowed(image: str, allowed: Sequence[str]) -> bool:
    """Whether ``image`` is one of ``allowed``: the same reference, or a tag or digest of an
    allowed repository (``repo`` allows ``repo:1.2`` and ``repo@sha256:...``, not ``repo-evil``)."""
    return any(image == a or image.startswith((f"{a}:", f"{a}@")) for a in allowed)


def _toleration(t: Mapping[str, Any]) -> tuple:
    keys = ("key", "operator", "value", "effect", "tolerationSeconds")
    return tuple((k, t.get(k)) for k in keys if t.get(k) is not None)


def refusal(jobs: StepResources, namespace: str, policy: JobPolicy, default_image: str) -> str | None:
    """Why a Campaign's ``spec.jobs`` may not run in ``namespace`` (``None`` if it may)."""
    image = jobs.image or default_image
    allowed = list(policy.allowed_images) or [default_image.rsplit(":", 1)[0].rsplit("@", 1)[0]]
    if not image_allowed(image, allowed):
        return (f"spec.jobs.image: {image!r} is not an image this installation runs; allowed: "
                f"{', '.join(allowed)} (the chart's jobs.allowedImages)")
    asked_sel = dict(jobs.node_selector)
    asked_tol = {_toleration(t.model_dump(by_alias=True, exclude_none=True)) for t in jobs.tolerations}
    if not asked_sel and not asked_tol:
        return None
    place = policy.placement(namespace)
    for choice in place.choices:
        sel = dict(choice.get("nodeSelector") or {})
        tol = {_toleration(t) for t in choice.get("tolerations") or ()}
        if asked_sel.items() <= sel.items() and asked_tol <= tol:
            return None
    offered = [{"nodeSelector": dict(c.get("nodeSelector") or {}), "tolerations": list(c.get("tolerations") or ())}
               for c in place.choices]
    return (f"spec.jobs.nodeSelector/tolerations: not a placement namespace {namespace} offers; it offers: "
            f"{offered or 'none'} (the chart's jobs.placement)")


def placement_for(jobs: StepResources, namespace: str, policy: JobPolicy) -> tuple[dict[str, str], list[dict]]:
    """The node selector and tolerations of a step pod: the namespace's, plus what the Campaign
    chose among the namespace's choices (call :func:`refusal` first)."""
    place = policy.placement(namespace)
    selector = {**dict(jobs.node_selector), **dict(place.node_selector)}  # the namespace's entries win
    tolerations = [dict(t) for t in place.tolerations]
    for t in jobs.tolerations:
        d = t.model_dump(by_alias=True, exclude_none=True)
        if d not in tolerations:
            tolerations.append(d)
    return selector, tolerations


__all__ = ["DEFAULT_NAMESPACE", "JobPolicy", "Placement", "image_allowed", "placement_for", "refusal"]
