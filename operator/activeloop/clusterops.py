"""What the command line asks of a cluster: campaign specs, proposals, status, new AssayResults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from activeloop.api.campaign import CampaignSpec
from activeloop.api.resources import CampaignResourceSpec
from activeloop.errors import ActiveLoopError, ConfigError, format_validation_error
from activeloop.ml.sequences import VariantLibrary


def namespace(explicit: str | None) -> str:
    """``explicit``, else the current kube context's namespace, else ``default``."""
    if explicit:
        return explicit
    try:
        import kubernetes

        _, active = kubernetes.config.list_kube_config_contexts(config_file=os.environ.get("KUBECONFIG"))
        return (active or {}).get("context", {}).get("namespace") or "default"
    except Exception:  # no kubeconfig: the default namespace, as kubectl does
        return "default"


def _core(spec: dict[str, Any], source: str) -> CampaignSpec:
    try:
        full = CampaignResourceSpec.model_validate(spec)
    except ValidationError as exc:
        raise ConfigError(source, format_validation_error(exc, "spec")) from None
    return full.core()


def campaign_spec(
    name: str, ns: str | None, campaign_file: Path | None = None
) -> tuple[CampaignSpec, VariantLibrary]:
    """The campaign's spec (from a YAML file, else from the cluster) and its library."""
    from activeloop.steps.data import build_library

    if campaign_file is not None:
        docs = [d for d in yaml.safe_load_all(Path(campaign_file).read_text()) if d]
        doc = next((d for d in docs if d.get("kind") == "Campaign" and d["metadata"]["name"] == name), None)
        if doc is None:
            raise ConfigError("campaign_file", f"{campaign_file} has no Campaign named {name}")
        spec = _core(doc.get("spec") or {}, str(campaign_file))
    else:
        obj = _get("campaigns", ns or "default", name)
        spec = _core(obj.get("spec") or {}, f"campaign {name}")
    return spec, build_library(spec)


def _get(plural: str, ns: str, name: str) -> dict[str, Any]:
    from activeloop.controller import kube

    obj = kube.get_custom(plural, ns, name)
    if obj is None:
        raise ActiveLoopError(f"{plural[:-1]} {name} not found in namespace {ns}")
    return obj


def proposals(campaign: str, round_number: int, ns: str) -> list[str]:
    """The variants a round proposed (from its LoopRound status)."""
    from activeloop.controller.builders import round_name

    rnd = _get("looprounds", ns, round_name(campaign, round_number))
    props = (rnd.get("status") or {}).get("proposals")
    if not props:
        phase = (rnd.get("status") or {}).get("phase", "Pending")
        raise ActiveLoopError(f"round {round_number} of {campaign} has no proposals yet (phase {phase})")
    return list(props)


def campaign_status(campaign: str, ns: str) -> dict[str, Any]:
    """The Campaign's status and one row per round (phase, proposals, measured, step states)."""
    from activeloop.controller import kube

    camp = _get("campaigns", ns, campaign)
    rounds = []
    for r in kube.list_custom("looprounds", ns, {"activeloop.dev/campaign": campaign}):
        st = r.get("status") or {}
        rounds.append({
            "round": r["spec"]["round"],
            "phase": st.get("phase", "Pending"),
            "proposed": len(st.get("proposals") or []),
            "measured": st.get("measured", 0),
            "tune": (st.get("tune") or {}).get("state") or "-",
            "acquire": (st.get("acquire") or {}).get("state") or "-",
        })
    return {"campaign": camp.get("status") or {}, "rounds": sorted(rounds, key=lambda r: r["round"])}


def create_assay(doc: dict[str, Any], ns: str) -> None:
    """Create one AssayResult; an existing name is an error (results are immutable)."""
    from kubernetes.client import ApiException

    from activeloop.api.resources import GROUP, VERSION
    from activeloop.controller import kube

    try:
        kube.custom().create_namespaced_custom_object(GROUP, VERSION, ns, "assayresults", doc)
    except ApiException as exc:
        if exc.status == 409:
            raise ActiveLoopError(
                f"assayresult {doc['metadata']['name']} already exists; recorded results are immutable: "
                "use --name for a new object, and --supersedes to correct an old one"
            ) from None
        raise ActiveLoopError(f"the API server refused assayresult {doc['metadata']['name']}: {exc.reason}") from None
