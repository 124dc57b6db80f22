"""The campaign service on a cluster: every call goes to the Kubernetes API *as the caller*.

The web interface builds, for each caller, an API client that carries the caller's own bearer
token (an OIDC ID token that oauth2-proxy passes through, or a ServiceAccount token pasted on the
login page) and none of the server's credentials; the command line uses the kubeconfig's user
(:class:`~activeloop.service.kube.KubeAccess`). Either way the API server's RBAC decides every
read and write: the service never does more than its caller could with ``kubectl``.

Artifacts (proposals with predictions, records, student files) live in the object store, which
the service reads with its own store credentials, but only after reading the campaign as the
caller succeeded. Plates become AssayResult objects (``steps.ingest.assay_manifests``); closing a
round sets its ``spec.close``; the operator does the rest.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import kubernetes
import pandas as pd
from pydantic import ValidationError
from typing_extensions import override

from activeloop.api import naming
from activeloop.api.names import Step
from activeloop.api.resources import (
    API_VERSION,
    GROUP,
    VERSION,
    CampaignResourceSpec,
    CampaignStatus,
    LoopRoundStatus,
    StudentModelStatus,
)
from activeloop.api.views import (
    CampaignDetail,
    CampaignSummary,
    HistoryPoint,
    NextRoundResult,
    RecordResult,
    RoundDetail,
    RoundSummary,
    StudentView,
)
from activeloop.errors import (
    ActiveLoopError,
    ConfigError,
    ConflictError,
    ForbiddenError,
    InputError,
    NotFoundError,
    StateError,
    format_validation_error,
)
from activeloop.lifecycle import machine
from activeloop.local.runner import OnProgress
from activeloop.service import views
from activeloop.service.base import CampaignService, User, check_artifact_key, require_name
from activeloop.service.kube import KubeAccess, call
from activeloop.service.plates import Plate, RecordOptions, check_plate, default_plate_name
from activeloop.steps import ingest
from activeloop.steps.data import build_library, parse_proposals
from activeloop.store import ArtifactStore, keys, store_from_uri

Obj = dict[str, Any]


def resource_spec(data: object, source: str) -> CampaignResourceSpec:
    """A Campaign's spec, every problem named by its field (``spec.library.sites: ...``)."""
    try:
        return CampaignResourceSpec.model_validate(data if isinstance(data, dict) else {})
    except ValidationError as exc:
        raise ConfigError(source, format_validation_error(exc, "spec")) from None


class ClusterService(CampaignService):
    """Campaigns in ``namespaces`` of a cluster, reached as each caller.

    Args:
        namespaces: the namespaces served (the first is the default).
        store_uri: root of the artifact store (``s3://bucket``), as the operator's.
        access: how to reach the API server (default: as each caller's token).
    """

    kind = "cluster"

    def __init__(self, namespaces: list[str], store_uri: str | None, access: KubeAccess | None = None) -> None:
        if not namespaces:
            raise ConfigError("namespaces", "name at least one namespace to serve")
        self.namespaces = tuple(namespaces)
        self.store_uri = store_uri.rstrip("/") if store_uri else None
        self.access = access or KubeAccess()
        self._stores: dict[tuple[str, str], ArtifactStore] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------ plumbing

    def _api(self, user: User) -> kubernetes.client.CustomObjectsApi:
        return kubernetes.client.CustomObjectsApi(self.access.client(user.token))

    def _ns(self, namespace: str | None) -> str:
        ns = namespace or self.namespaces[0]
        if ns not in self.namespaces:
            raise NotFoundError(f"namespace {ns!r} is not served here; served: {list(self.namespaces)}")
        return ns

    def _get(self, user: User, plural: str, ns: str, name: str) -> Obj:
        return call("get", f"{plural}/{name} in {ns}", self._api(user).get_namespaced_custom_object,
                    GROUP, VERSION, ns, plural, name)

    def _list(self, user: User, plural: str, ns: str, campaign: str | None = None) -> list[Obj]:
        kwargs = {"label_selector": f"{naming.LABEL_CAMPAIGN}={campaign}"} if campaign and plural != "campaigns" else {}
        out = call("list", f"{plural} in {ns}", self._api(user).list_namespaced_custom_object,
                   GROUP, VERSION, ns, plural, **kwargs)
        items = list(out.get("items") or [])
        if campaign is not None:  # label selectors are a hint: the spec says which campaign
            items = [o for o in items if (o.get("spec") or {}).get("campaign") == campaign]
        return items

    def _patch(self, user: User, plural: str, ns: str, name: str, body: Obj) -> Obj:
        return call("patch", f"{plural}/{name} in {ns}", self._api(user).patch_namespaced_custom_object,
                    GROUP, VERSION, ns, plural, name, body)

    def store(self, ns: str, campaign: str) -> ArtifactStore | None:
        """The artifact store of ``ns/campaign`` (read only after the caller read the campaign), or
        ``None`` where none is configured (the command line without ``ACTIVELOOP_STORE_URI``: what
        the objects' statuses hold is shown, without predictions)."""
        if self.store_uri is None:
            return None
        key = (ns, campaign)
        with self._lock:
            if key not in self._stores:
                self._stores[key] = store_from_uri(f"{self.store_uri}/{ns}/{campaign}")
            return self._stores[key]

    @override
    def check_login(self, user: User) -> None:
        """A token the API server does not know is refused at sign-in (401), not on the next page."""
        try:
            self._list(user, "campaigns", self.namespaces[0])
        except ForbiddenError:
            pass  # a known identity without rights here: its pages will say what it may not do

    # ------------------------------------------------------------------------------ reading

    @staticmethod
    def _summary(obj: Obj, ns: str) -> CampaignSummary:
        return views.campaign_summary(obj["metadata"]["name"], ns, CampaignStatus.lenient(obj.get("status")), None,
                                      automatic=True)

    @override
    def campaigns(self, user: User) -> list[CampaignSummary]:
        return [self._summary(obj, ns) for ns in self.namespaces for obj in self._list(user, "campaigns", ns)]

    def _rounds(self, user: User, name: str, ns: str) -> dict[int, LoopRoundStatus]:
        out = {}
        for obj in self._list(user, "looprounds", ns, name):
            out[int((obj.get("spec") or {}).get("round") or 0)] = LoopRoundStatus.lenient(obj.get("status"))
        return dict(sorted(out.items()))

    @override
    def campaign(self, user: User, name: str, namespace: str | None = None) -> CampaignDetail:
        ns = self._ns(namespace)
        obj = self._get(user, "campaigns", ns, name)
        spec = CampaignResourceSpec.model_validate(obj.get("spec") or {})
        st = CampaignStatus.lenient(obj.get("status"))
        rounds = self._rounds(user, name, ns)
        last = rounds.get(max(rounds, default=0))
        summary = views.campaign_summary(name, ns, st, last, automatic=True)
        try:
            size = len(build_library(spec.core(), self.store(ns, name)))
        except ActiveLoopError:
            size = 0  # the operator reports why on the campaign
        return views.campaign_detail(summary, spec.core(), st, size,
                                     self._plan(spec, rounds, raise_refusal=False) is not None)

    @override
    def rounds(self, user: User, name: str, namespace: str | None = None) -> list[RoundSummary]:
        ns = self._ns(namespace)
        self._get(user, "campaigns", ns, name)
        return [views.round_summary(n, st) for n, st in self._rounds(user, name, ns).items()]

    def _measurements(self, ns: str, name: str) -> pd.DataFrame:
        store = self.store(ns, name)
        if store is None or not store.exists(keys.MEASUREMENTS):
            return ingest.read_measurements_csv(ingest.measurements_csv(ingest.EMPTY_MEASUREMENTS))
        return store.parsed(keys.MEASUREMENTS, ingest.read_measurements_csv)

    @override
    def round(self, user: User, name: str, number: int, namespace: str | None = None) -> RoundDetail:
        ns = self._ns(namespace)
        obj = self._get(user, "looprounds", ns, naming.round_name(name, number))
        st = LoopRoundStatus.lenient(obj.get("status"))
        store = self.store(ns, name)
        props = pd.DataFrame({"variant": st.proposals, "rank": range(1, len(st.proposals) + 1),
                              "mean": float("nan"), "std": float("nan")}) if st.proposals else None
        acquire: dict = {}
        if store is not None and st.proposals and store.exists(keys.proposals(number)):
            props = store.parsed(keys.proposals(number), parse_proposals)
            record_key = keys.step_record(number, Step.ACQUIRE)
            acquire = store.parsed(record_key, _json) if store.exists(record_key) else {}
        return views.round_detail(number, st, views.proposal_rows(props, self._measurements(ns, name)), acquire)

    @override
    def history(self, user: User, name: str, namespace: str | None = None) -> list[HistoryPoint]:
        ns = self._ns(namespace)
        detail = self.campaign(user, name, ns)
        rounds = self._rounds(user, name, ns)
        round_of = {v: n for n, st in sorted(rounds.items(), reverse=True) for v in st.proposals}
        return views.best_by_round(self._measurements(ns, name), round_of, list(rounds), detail.direction)

    @override
    def students(self, user: User, name: str, namespace: str | None = None) -> list[StudentView]:
        ns = self._ns(namespace)
        return [views.student_view(obj["metadata"]["name"], int((obj.get("spec") or {}).get("round") or 0),
                                   StudentModelStatus.lenient(obj.get("status")))
                for obj in self._list(user, "studentmodels", ns, name)]

    @override
    def artifact(self, user: User, name: str, key: str, namespace: str | None = None) -> bytes:
        ns = self._ns(namespace)
        check_artifact_key(key)
        self._get(user, "campaigns", ns, name)  # the caller may read the campaign: then its artifacts
        store = self.store(ns, name)
        if store is None:
            raise NotFoundError(f"no artifact store is configured here (ACTIVELOOP_STORE_URI) to read {key} from")
        try:
            return store.get_bytes(key)
        except KeyError:
            raise NotFoundError(f"campaign {name} has no {key}") from None

    # ------------------------------------------------------------------------------- acting

    @override
    def create_campaign(self, user: User, name: str, spec: dict, namespace: str | None = None,
                        files: Mapping[str, bytes] | None = None) -> CampaignDetail:
        ns = self._ns(namespace)
        require_name(name)
        if files:
            raise ConfigError("library.variantsUri", "on a cluster, put the variant list in the campaign's store "
                                                     f"({self.store_uri}/{ns}/{name}/...) and name its key")
        try:
            parsed = CampaignResourceSpec.model_validate(spec)
        except ValidationError as exc:
            raise ConfigError("spec", format_validation_error(exc)) from None
        build_library(parsed.core(), self.store(ns, name))
        body = {"apiVersion": API_VERSION, "kind": "Campaign", "metadata": {"name": name, "namespace": ns},
                "spec": parsed.model_dump(mode="json", by_alias=True, exclude_none=True)}
        call("create", f"campaigns in {ns}", self._api(user).create_namespaced_custom_object,
             GROUP, VERSION, ns, "campaigns", body)
        return self.campaign(user, name, ns)

    @override
    def record(self, user: User, name: str, plate: Plate, options: RecordOptions,
               namespace: str | None = None) -> RecordResult:
        ns = self._ns(namespace)
        obj = self._get(user, "campaigns", ns, name)
        spec = CampaignResourceSpec.model_validate(obj.get("spec") or {}).core()
        checked = check_plate(plate, spec, build_library(spec, self.store(ns, name)), options)
        base = {"rows": int(len(checked.rows)), "failed": checked.failed, "preview": checked.preview,
                "supersedes": list(options.supersedes)}
        explicit = ingest.dns_label(options.name) if options.name else None
        if options.dry_run:
            return RecordResult(recorded=False, dry_run=True, name=explicit or default_plate_name(options, checked),
                                **base)
        existing = self._list(user, "assayresults", ns, name)
        known = {o["metadata"]["name"]: o for o in existing}
        for old in options.supersedes:
            if old not in known and f"{name}-{old}" not in known:
                raise InputError("supersedes", f"no recorded plate {old!r}; recorded: {sorted(known) or 'none'}")
        same = [o["metadata"]["name"] for o in existing if _content_sha(o) == checked.sha256]
        if same and not options.supersedes:  # the same results sent again, under any name
            return RecordResult(recorded=False, name=same[0], duplicate_of=same[0], **base)
        plate_name = explicit or self._free_name(name, default_plate_name(options, checked), known)
        docs = ingest.assay_manifests(name, checked.rows, name=plate_name, round_number=options.round,
                                      replicates=options.replicates, supersedes=options.supersedes, namespace=ns)
        created = 0
        for doc in docs:
            doc["metadata"]["annotations"][naming.ANNOTATION_RECORDED_BY] = user.name
            try:
                call("create", f"assayresults in {ns}", self._api(user).create_namespaced_custom_object,
                     GROUP, VERSION, ns, "assayresults", doc)
                created += 1
            except ConflictError:
                earlier = self._get(user, "assayresults", ns, doc["metadata"]["name"])
                if _content_sha(earlier) != checked.sha256:
                    raise ConflictError(f"a plate named {doc['metadata']['name']} was recorded with other results; "
                                        "give another name, and name it in supersedes to correct it") from None
        name_out = docs[0]["metadata"]["name"] if len(docs) == 1 else plate_name
        return RecordResult(recorded=created > 0, name=name_out, duplicate_of=None if created else name_out, **base)

    @staticmethod
    def _free_name(campaign: str, base: str, known: dict[str, Obj]) -> str:
        """``<campaign>-<base>``, with a number after it when taken (as on a workstation)."""
        stem = ingest.dns_label(f"{campaign}-{base}")[:50].rstrip("-")
        name, k = stem, 1
        while name in known:
            k += 1
            name = f"{stem}-{k}"
        return name

    def _plan(self, spec: CampaignResourceSpec, rounds: dict[int, LoopRoundStatus],
              raise_refusal: bool = True) -> machine.NextRound | None:
        current = max(rounds, default=0)
        last = rounds.get(current)
        try:
            plan = machine.plan_next_round(current, last.phase if last else None, spec.total_rounds,
                                           "raise spec.rounds of the Campaign")
            if plan.close is None and not plan.retry and spec.suspend:
                raise StateError(f"the campaign is suspended (spec.suspend): set it to false to start "
                                 f"round {plan.start}")
        except ActiveLoopError:
            if raise_refusal:
                raise
            return None
        return plan

    @override
    def close_round(self, user: User, name: str, number: int | None = None,
                    namespace: str | None = None) -> NextRoundResult:
        ns = self._ns(namespace)
        if number is None:
            obj = self._get(user, "campaigns", ns, name)
            number = CampaignStatus.lenient(obj.get("status")).current_round
            if not number:
                raise StateError("no round has started yet")
        rname = naming.round_name(name, number)
        st = LoopRoundStatus.lenient(self._get(user, "looprounds", ns, rname).get("status"))
        machine.check_close(number, st.phase)
        self._patch(user, "looprounds", ns, rname, {"spec": {"close": True}})
        return NextRoundResult(closed_round=number, message=f"round {number} closed; the operator starts the next "
                                                            "round when the campaign has rounds left")

    @override
    def next_round(self, user: User, name: str, namespace: str | None = None, *, wait: bool = False,
                   jobs: int = 1, on_progress: OnProgress | None = None) -> NextRoundResult:
        ns = self._ns(namespace)
        spec = CampaignResourceSpec.model_validate(self._get(user, "campaigns", ns, name).get("spec") or {})
        rounds = self._rounds(user, name, ns)
        plan = self._plan(spec, rounds)
        assert plan is not None
        if plan.close is not None:
            self.close_round(user, name, plan.close, ns)
            return NextRoundResult(closed_round=plan.close, next_round=plan.start,
                                   message=f"round {plan.close} closed; the operator starts round {plan.start}")
        if plan.retry:
            rname = naming.round_name(name, plan.start)
            obj = self._get(user, "looprounds", ns, rname)
            tries = int((obj.get("spec") or {}).get("retry") or 0) + 1
            # the operator starts the round again with new Jobs; what its steps wrote stays in the
            # store, so only what failed runs again (and, if nothing ran, its inputs are pinned again)
            self._patch(user, "looprounds", ns, rname, {"spec": {"retry": tries}})
            return NextRoundResult(next_round=plan.start,
                                   message=f"round {plan.start} is being started again (attempt {tries + 1})")
        return NextRoundResult(next_round=plan.start, message=f"the operator starts round {plan.start}")

    @override
    def extend(self, user: User, name: str, rounds: int, namespace: str | None = None) -> CampaignDetail:
        ns = self._ns(namespace)
        spec = CampaignResourceSpec.model_validate(self._get(user, "campaigns", ns, name).get("spec") or {})
        machine.check_extend(rounds, spec.rounds)
        self._patch(user, "campaigns", ns, name, {"spec": {"rounds": rounds}})
        return self.campaign(user, name, ns)


def _content_sha(obj: Obj) -> str | None:
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(naming.ANNOTATION_CONTENT_SHA)


def _json(data: bytes) -> dict:
    import json

    return json.loads(data)


__all__ = ["ClusterService"]
