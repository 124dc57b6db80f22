"""What the command line asks of a cluster: campaign specs, proposals, status, new AssayResults,
closing a round. Every Kubernetes problem becomes an :class:`ActiveLoopError` that says what to do."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from activeloop.api.campaign import CampaignSpec
from activeloop.api.resources import GROUP, VERSION, CampaignResourceSpec
from activeloop.errors import ActiveLoopError, ConfigError, format_validation_error
from activeloop.ml.library import Library


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


def kube() -> Any:
    """A :class:`~activeloop.controller.kube.Kube` for the current context, or a clear error."""
    try:
        import kubernetes

        from activeloop.controller.kube import Kube
    except ImportError:
        raise ActiveLoopError("cluster commands need the operator extra: pip install 'activeloop[operator]'") from None
    try:
        return Kube()
    except (kubernetes.config.ConfigException, OSError) as exc:
        raise ActiveLoopError(
            f"no Kubernetes cluster is configured ({exc}); set KUBECONFIG or a kube context, "
            "or use a local campaign with --run-dir") from None


def _call(fn: Any, *args: Any, what: str) -> Any:
    from kubernetes.client import ApiException
    from urllib3.exceptions import HTTPError

    try:
        return fn(*args)
    except ApiException as exc:
        if exc.status in (401, 403):
            raise ActiveLoopError(f"the cluster refused to let you {what} ({exc.status} {exc.reason})") from None
        raise ActiveLoopError(f"the cluster could not {what}: {exc.status} {exc.reason}") from None
    except (HTTPError, OSError) as exc:
        raise ActiveLoopError(f"the cluster could not be reached to {what}: {exc}") from None


def _core(spec: dict[str, Any], source: str) -> CampaignSpec:
    try:
        full = CampaignResourceSpec.model_validate(spec)
    except ValidationError as exc:
        raise ConfigError(source, format_validation_error(exc, "spec")) from None
    return full.core()


def campaign_spec(
    name: str, ns: str | None, campaign_file: Path | None = None
) -> tuple[CampaignSpec, Library]:
    """The campaign's spec (from a YAML file, else from the cluster) and its library."""
    from activeloop.steps.data import build_library

    if campaign_file is not None:
        docs = [d for d in yaml.safe_load_all(Path(campaign_file).read_text()) if d]
        doc = next((d for d in docs if d.get("kind") == "Campaign" and d["metadata"]["name"] == name), None)
        if doc is None:
            raise ConfigError("campaign_file", f"{campaign_file} has no Campaign named {name}")
        spec = _core(doc.get("spec") or {}, str(campaign_file))
    else:
        obj = get("campaigns", ns or "default", name)
        spec = _core(obj.get("spec") or {}, f"campaign {name}")
    return spec, build_library(spec)


def get(plural: str, ns: str, name: str) -> dict[str, Any]:
    """A custom object, or an error naming it."""
    client = kube()
    obj = _call(client.get, plural, ns, name, what=f"read {plural[:-1]} {name}")
    if obj is None:
        raise ActiveLoopError(f"{plural[:-1]} {name} not found in namespace {ns}")
    return obj


def proposals(campaign: str, round_number: int, ns: str) -> list[str]:
    """The variants a round proposed (from its LoopRound status)."""
    from activeloop.controller.builders import round_name

    rnd = get("looprounds", ns, round_name(campaign, round_number))
    props = (rnd.get("status") or {}).get("proposals")
    if not props:
        phase = (rnd.get("status") or {}).get("phase", "Pending")
        raise ActiveLoopError(f"round {round_number} of {campaign} has no proposals yet (phase {phase})")
    return list(props)


def campaign_status(campaign: str, ns: str) -> dict[str, Any]:
    """The Campaign's status and one row per round (phase, proposals, measured, step states)."""
    client = kube()
    camp = get("campaigns", ns, campaign)
    items = _call(lambda: client.custom.list_namespaced_custom_object(GROUP, VERSION, ns, "looprounds")["items"],
                  what="list looprounds")
    rounds = []
    for r in items:
        if (r.get("spec") or {}).get("campaign") != campaign:
            continue
        st = r.get("status") or {}
        rounds.append({
            "round": r["spec"]["round"],
            "phase": st.get("phase", "Pending"),
            "proposed": len(st.get("proposals") or []),
            "measured": st.get("measured", 0),
            "failed": st.get("failed", 0),
            "pending": st.get("pending", 0),
            "tune": (st.get("tune") or {}).get("state") or "-",
            "acquire": (st.get("acquire") or {}).get("state") or "-",
        })
    return {"campaign": camp.get("status") or {}, "rounds": sorted(rounds, key=lambda r: r["round"])}


def create_assay(doc: dict[str, Any], ns: str) -> bool:
    """Create one AssayResult; ``False`` if the same plate is there already (nothing to do).

    A different object of that name is an error: recorded results are immutable.
    """
    from kubernetes.client import ApiException

    client = kube()
    try:
        client.custom.create_namespaced_custom_object(GROUP, VERSION, ns, "assayresults", doc)
        return True
    except ApiException as exc:
        if exc.status == 409:
            old = client.get("assayresults", ns, doc["metadata"]["name"]) or {}
            key = "activeloop.dev/content-sha256"
            if (old.get("metadata", {}).get("annotations") or {}).get(key) == doc["metadata"]["annotations"][key]:
                return False
            raise ActiveLoopError(
                f"assayresult {doc['metadata']['name']} already exists with other measurements; recorded "
                "results are immutable: use --name for a new object, and --supersedes to correct an old one"
            ) from None
        if exc.status in (401, 403):
            raise ActiveLoopError(f"the cluster refused to let you create assayresults in {ns} "
                                  f"({exc.status} {exc.reason})") from None
        raise ActiveLoopError(f"the API server refused assayresult {doc['metadata']['name']}: {exc.reason}") from None


def close_round(campaign: str, ns: str, round_number: int | None = None) -> int:
    """Close a round now (the campaign's current round by default); returns its number."""
    from activeloop.controller.builders import round_name

    client = kube()
    if round_number is None:
        round_number = int((get("campaigns", ns, campaign).get("status") or {}).get("currentRound") or 0)
        if not round_number:
            raise ActiveLoopError(f"campaign {campaign} has not started a round yet")
    name = round_name(campaign, round_number)
    get("looprounds", ns, name)
    _call(client.custom.patch_namespaced_custom_object, GROUP, VERSION, ns, "looprounds", name,
          {"spec": {"close": True}}, what=f"close looprounds/{name}")
    return round_number
