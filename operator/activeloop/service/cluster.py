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

import hashlib
import json
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import kubernetes
import pandas as pd
from pydantic import ValidationError
from typing_extensions import override

from activeloop.api import naming
from activeloop.api.campaign import CampaignSpec
from activeloop.api.names import Step
from activeloop.api.resources import (
    API_VERSION,
    GROUP,
    VERSION,
    AssayResultStatus,
    CampaignResourceSpec,
    CampaignStatus,
    LoopRoundStatus,
    StudentModelStatus,
)
from activeloop.api.views import (
    ActivityEntry,
    CampaignDetail,
    CampaignSummary,
    HistoryPoint,
    NextRoundResult,
    PlateDetail,
    PlateView,
    RecordResult,
    RoundDetail,
    RoundSummary,
    StudentView,
)
from activeloop.controller import builders
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
from activeloop.service import activity, plates, views
from activeloop.service.base import CampaignService, User, check_artifact_key, require_name
from activeloop.service.kube import KubeAccess, call
from activeloop.service.plates import Plate, RecordOptions, default_plate_name
from activeloop.steps import ingest
from activeloop.steps.data import PROPOSAL_COLUMNS, build_library, parse_proposals
from activeloop.steps.picks import check_next_picks
from activeloop.store import ArtifactStore, keys, store_from_uri

Obj = dict[str, Any]
IDENTITY_SECONDS = 300.0
"""How long the name the API server gave a token is remembered."""


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
        self._names: dict[str, tuple[str, float]] = {}
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
    def identify(self, user: User) -> User:
        """The caller as the API server knows them: their username (a SelfSubjectReview made with
        their own token, remembered for a few minutes per token), which is what plates and rounds
        record. A token the API server does not know is refused here (401), not on the next page."""
        if not user.token:
            return user
        digest = hashlib.sha256(user.token.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            known = self._names.get(digest)
        if known is not None and now - known[1] < IDENTITY_SECONDS:
            return User(known[0], user.token)
        try:
            self._list(user, "campaigns", self.namespaces[0])
        except ForbiddenError:
            pass  # a known identity without rights here: its pages will say what it may not do
        name = self.access.username(user.token)
        with self._lock:
            if len(self._names) >= 1024:
                self._names.pop(next(iter(self._names)))
            self._names[digest] = (name, now)
        return User(name, user.token)

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
            size = build_library(spec.core(), self.store(ns, name)).size
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
        props = pd.DataFrame({"variant": st.proposals, "rank": range(1, len(st.proposals) + 1)}).reindex(
            columns=PROPOSAL_COLUMNS) if st.proposals else None
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
        return views.best_by_round(self._measurements(ns, name), round_of, list(rounds), detail.spec.all_objectives)

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
        body = {"apiVersion": API_VERSION, "kind": "Campaign",
                "metadata": {"name": name, "namespace": ns, "annotations": {naming.ANNOTATION_CREATED_BY: user.name}},
                "spec": parsed.model_dump(mode="json", by_alias=True, exclude_none=True)}
        call("create", f"campaigns in {ns}", self._api(user).create_namespaced_custom_object,
             GROUP, VERSION, ns, "campaigns", body)
        return self.campaign(user, name, ns)

    def _proposals_of(self, user: User, name: str, ns: str) -> plates.ProposalsOf:
        def proposals(number: int | None) -> tuple[int, pd.DataFrame]:
            with_props = [r.round for r in self.rounds(user, name, ns) if r.proposed]
            n = number if number is not None else (with_props[-1] if with_props else None)
            if n is None:
                raise NotFoundError(f"{name} has no proposals yet: no plate map to read a plate by well with")
            return n, self.proposals(user, name, n, ns)[1]
        return proposals

    @override
    def record(self, user: User, name: str, plate: Plate, options: RecordOptions,
               namespace: str | None = None) -> RecordResult:
        ns = self._ns(namespace)
        obj = self._get(user, "campaigns", ns, name)
        spec = CampaignResourceSpec.model_validate(obj.get("spec") or {}).core()
        store = self.store(ns, name)
        plate_map = plates.resolve_map(options, spec, self._proposals_of(user, name, ns))
        checked = plates.check_plate(plate, spec, build_library(spec, store), options, plate_map)
        existing = self._list(user, "assayresults", ns, name)
        known = {o["metadata"]["name"]: o for o in existing}
        supersedes = tuple(o if o in known else f"{name}-{o}" for o in options.supersedes)
        plates.check_supersedes(supersedes, known)
        stored = self._stored_assays(store)
        before = [ingest.variant_values(self._rows(store, s), stored[s].replicates, stored[s].normalize)
                  for s in supersedes if s in stored and store is not None]
        drift = self._drift(store, spec, stored, checked) if checked.controls else []
        result = self._checked_result(checked, options, spec, before, drift)
        explicit = ingest.dns_label(options.name) if options.name else None
        if options.dry_run:
            return result.model_copy(update={"name": explicit or default_plate_name(options, checked)})
        same = [o["metadata"]["name"] for o in existing if _content_sha(o) == checked.sha256
                and ((o.get("spec") or {}).get("task") or "") == checked.task]
        if same and not supersedes:  # the same results sent again, under any name
            return result.model_copy(update={"dry_run": False, "name": same[0], "duplicate_of": same[0]})
        plate_name = explicit or self._free_name(name, default_plate_name(options, checked), known)
        docs = ingest.assay_manifests(name, checked.rows, name=plate_name, round_number=options.round,
                                      unit=checked.unit or None, replicates=options.replicates,
                                      supersedes=supersedes, namespace=ns, earlier=checked.earlier,
                                      task=checked.task)
        original = ""
        if checked.raw and store is not None:  # the file as sent, beside the objects (before them)
            original = keys.assay_original(docs[0]["metadata"]["name"], plates.original_suffix(checked.source))
            store.put_bytes(original, checked.raw)
        created = 0
        for doc in docs:
            doc["metadata"]["annotations"][naming.ANNOTATION_RECORDED_BY] = user.name
            if original:
                doc["metadata"]["annotations"][naming.ANNOTATION_ORIGINAL] = original
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
        return result.model_copy(update={"recorded": created > 0, "dry_run": False, "name": name_out,
                                         "duplicate_of": None if created else name_out})

    @staticmethod
    def _stored_assays(store: ArtifactStore | None) -> dict[str, ingest.StoredAssay]:
        return {a.name: a for a in ingest.list_assays(store)} if store is not None else {}

    @staticmethod
    def _rows(store: ArtifactStore | None, plate: str) -> pd.DataFrame:
        if store is None:
            raise NotFoundError("no artifact store is configured here (ACTIVELOOP_STORE_URI) to read plates from")
        return store.parsed(keys.assay_rows(plate), ingest.parse_assay_rows)

    def _drift(self, store: ArtifactStore | None, spec: CampaignSpec, stored: dict[str, ingest.StoredAssay],
               checked: plates.CheckedPlate) -> list[str]:
        gone = ingest.superseded_names(stored.values())
        rows = {n: self._rows(store, n) for n in stored if n not in gone}
        rows["(this plate)"] = checked.rows
        return plates.plate_drift(spec, rows)["(this plate)"]

    # ------------------------------------------------------------------------------- plates

    @override
    def plates(self, user: User, name: str, namespace: str | None = None) -> list[PlateView]:
        ns = self._ns(namespace)
        obj = self._get(user, "campaigns", ns, name)
        spec = CampaignResourceSpec.model_validate(obj.get("spec") or {}).core()
        objects = self._list(user, "assayresults", ns, name)
        store = self.store(ns, name)
        stored = self._stored_assays(store)
        by = {s: a.name for a in stored.values() for s in a.supersedes}
        rows = {n: self._rows(store, n) for n in stored}
        drift = plates.plate_drift(spec, {n: r for n, r in rows.items() if n not in by})
        out = []
        for o in objects:
            plate, meta = o["metadata"]["name"], o.get("metadata") or {}
            st = AssayResultStatus.lenient(o.get("status"))
            annotations = meta.get("annotations") or {}
            if plate in stored:
                out.append(plates.plate_view(stored[plate], rows[plate], by.get(plate) or st.superseded_by,
                                             drift.get(plate, ()), phase=st.phase, message=st.message))
                continue
            measured = (o.get("spec") or {}).get("measurements") or []
            out.append(PlateView(name=plate, phase=st.phase, round=(o.get("spec") or {}).get("round"),
                                 recorded_at=meta.get("creationTimestamp"),
                                 recorded_by=annotations.get(naming.ANNOTATION_RECORDED_BY), rows=len(measured),
                                 source=f"AssayResult/{plate}", earlier=bool((o.get("spec") or {}).get("earlier")),
                                 task=(o.get("spec") or {}).get("task"), message=st.message))
        return sorted(out, key=lambda v: (v.recorded_at or "", v.name), reverse=True)

    @override
    def plate(self, user: User, name: str, plate: str, namespace: str | None = None) -> PlateDetail:
        ns = self._ns(namespace)
        views_by_name = {v.name: v for v in self.plates(user, name, ns)}
        view = views_by_name[plates.find_plate(plate, views_by_name)]
        if view.phase in ("Pending", "Rejected"):
            measured = (self._get(user, "assayresults", ns, plate).get("spec") or {}).get("measurements") or []
            rows = pd.DataFrame([{"variant": str(m.get("variant") or ""), "value": m.get("value"),
                                  "failed": bool(m.get("failed")), "replicate": m.get("replicate"),
                                  "well": str(m.get("well") or ""), "control": str(m.get("control") or "")}
                                 for m in measured if isinstance(m, dict)],
                                columns=[*ingest.ROW_COLUMNS, *ingest.PLACE_COLUMNS])
            return plates.plate_detail(view, rows, "none")
        return plates.plate_detail(view, self._rows(self.store(ns, name), plate), view.normalize)

    @override
    def plate_file(self, user: User, name: str, plate: str, namespace: str | None = None) -> tuple[bytes, str]:
        ns = self._ns(namespace)
        obj = self._get(user, "assayresults", ns, plate)
        key = ((obj.get("metadata") or {}).get("annotations") or {}).get(naming.ANNOTATION_ORIGINAL)
        store = self.store(ns, name)
        if not key or store is None or not keys.servable(key) or not store.exists(key):
            raise NotFoundError(f"plate {plate} came as rows, not as a file (or its file is not in the store)")
        return store.get_bytes(key), f"{plate}{key[key.rfind('.'):]}"

    @override
    def activity(self, user: User, name: str, namespace: str | None = None) -> list[ActivityEntry]:
        ns = self._ns(namespace)
        obj = self._get(user, "campaigns", ns, name)
        meta = obj.get("metadata") or {}
        notes = meta.get("annotations") or {}
        stored = self._stored_assays(self.store(ns, name))
        entries = activity.plate_entries(stored.values())
        for o in self._list(user, "assayresults", ns, name):
            plate = o["metadata"]["name"]
            if plate not in stored:
                entries += activity.plate_entries([ingest.StoredAssay(
                    name=plate, sha256="", rows=len((o.get("spec") or {}).get("measurements") or []), failed=0,
                    accepted_at=(o.get("metadata") or {}).get("creationTimestamp") or "",
                    recorded_by=((o.get("metadata") or {}).get("annotations") or {}).get(
                        naming.ANNOTATION_RECORDED_BY, ""))])
        for r in self._list(user, "looprounds", ns, name):
            rmeta = r.get("metadata") or {}
            ra = rmeta.get("annotations") or {}
            number = int((r.get("spec") or {}).get("round") or 0)
            entries += activity.round_entries(
                number, LoopRoundStatus.lenient(r.get("status")),
                activity.Note(rmeta.get("creationTimestamp") or "", "the operator"),
                [activity.Note(ra[naming.ANNOTATION_RETRIED_AT], ra.get(naming.ANNOTATION_RETRIED_BY))]
                if ra.get(naming.ANNOTATION_RETRIED_AT) else [],
                activity.Note(ra[naming.ANNOTATION_CLOSED_AT], ra.get(naming.ANNOTATION_CLOSED_BY))
                if ra.get(naming.ANNOTATION_CLOSED_AT) else None)
        created = activity.Note(meta.get("creationTimestamp") or "", notes.get(naming.ANNOTATION_CREATED_BY))
        extended = {int((obj.get("spec") or {}).get("rounds") or 0): activity.Note(
            notes[naming.ANNOTATION_EXTENDED_AT], notes.get(naming.ANNOTATION_EXTENDED_BY))} \
            if notes.get(naming.ANNOTATION_EXTENDED_AT) else {}
        return activity.feed(entries + activity.campaign_entries(created, extended))

    @override
    def measurements(self, user: User, name: str, namespace: str | None = None) -> pd.DataFrame:
        ns = self._ns(namespace)
        self._get(user, "campaigns", ns, name)
        return self._measurements(ns, name)

    @override
    def archive_files(self, user: User, name: str, namespace: str | None = None) -> dict[str, bytes]:
        ns = self._ns(namespace)
        obj = self._get(user, "campaigns", ns, name)
        store = self.store(ns, name)
        if store is None:
            raise NotFoundError("no artifact store is configured here (ACTIVELOOP_STORE_URI) to archive from")
        files = {k: store.get_bytes(k) for k in store.list("") if keys.archived(k)}
        # the statuses live in the objects on a cluster: the archive carries them as a run directory would
        files[keys.CAMPAIGN_STATUS] = json.dumps(CampaignStatus.lenient(obj.get("status")).dump(), indent=2,
                                                 sort_keys=True).encode()
        for n, st in self._rounds(user, name, ns).items():
            files[keys.round_status(n)] = json.dumps(st.dump(), indent=2, sort_keys=True).encode()
        return files

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
        self._patch(user, "looprounds", ns, rname, {
            "metadata": {"annotations": {naming.ANNOTATION_CLOSED_BY: user.name,
                                         naming.ANNOTATION_CLOSED_AT: _stamp()}},
            "spec": {"close": True}})
        return NextRoundResult(closed_round=number, message=f"round {number} closed; the operator starts the next "
                                                            "round when the campaign has rounds left")

    @override
    def next_round(self, user: User, name: str, namespace: str | None = None, *, wait: bool = False,
                   jobs: int = 1, on_progress: OnProgress | None = None,
                   picks: Sequence[str] = ()) -> NextRoundResult:
        ns = self._ns(namespace)
        campaign = self._get(user, "campaigns", ns, name)
        spec = CampaignResourceSpec.model_validate(campaign.get("spec") or {})
        rounds = self._rounds(user, name, ns)
        plan = self._plan(spec, rounds)
        assert plan is not None
        if picks:
            self._start_with_picks(user, campaign, spec, plan, picks)
            if plan.close is not None:
                self.close_round(user, name, plan.close, ns)
            return NextRoundResult(closed_round=plan.close, next_round=plan.start,
                                   message=f"round {plan.start} starts with {len(picks)} picked variant(s); "
                                           "the model fills the rest of its batch")
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
            self._patch(user, "looprounds", ns, rname, {
                "metadata": {"annotations": {naming.ANNOTATION_RETRIED_BY: user.name,
                                             naming.ANNOTATION_RETRIED_AT: _stamp()}},
                "spec": {"retry": tries}})
            return NextRoundResult(next_round=plan.start,
                                   message=f"round {plan.start} is being started again (attempt {tries + 1})")
        return NextRoundResult(next_round=plan.start, message=f"the operator starts round {plan.start}")

    def _start_with_picks(self, user: User, campaign: Obj, spec: CampaignResourceSpec, plan: machine.NextRound,
                          picks: Sequence[str]) -> None:
        """Create the next LoopRound with the caller's picks (checked first), before the current
        round is closed, so the operator does not start it without them."""
        meta = campaign.get("metadata") or {}
        ns, name = meta.get("namespace") or self._ns(None), meta["name"]
        if plan.retry:
            raise InputError("picks", f"round {plan.start} is started again with the picks it started with; "
                                      "picks go with a new round")
        store = self.store(ns, name)
        if store is None:
            raise ConfigError("picks", "no artifact store is configured here to check the picks against")
        names = check_next_picks(store, spec.core(), build_library(spec.core(), store), picks, plan.start)
        body = builders.build_loopround(name, plan.start)
        builders.adopt(body, {**campaign, "apiVersion": API_VERSION, "kind": "Campaign"})
        body["metadata"]["ownerReferences"][0]["blockOwnerDeletion"] = False  # needs no rights on campaigns
        body["spec"] |= {"picks": names, "pickedBy": user.name}
        try:
            call("create", f"looprounds/{body['metadata']['name']} in {ns}",
                 self._api(user).create_namespaced_custom_object, GROUP, VERSION, ns, "looprounds", body)
        except ConflictError:
            raise ConflictError(f"round {plan.start} of {name} has started already (the operator starts a round "
                                "when the last one is complete); picks go with a round you start") from None

    @override
    def extend(self, user: User, name: str, rounds: int, namespace: str | None = None) -> CampaignDetail:
        ns = self._ns(namespace)
        spec = CampaignResourceSpec.model_validate(self._get(user, "campaigns", ns, name).get("spec") or {})
        machine.check_extend(rounds, spec.rounds)
        self._patch(user, "campaigns", ns, name, {
            "metadata": {"annotations": {naming.ANNOTATION_EXTENDED_BY: user.name,
                                         naming.ANNOTATION_EXTENDED_AT: _stamp()}},
            "spec": {"rounds": rounds}})
        return self.campaign(user, name, ns)


def _content_sha(obj: Obj) -> str | None:
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(naming.ANNOTATION_CONTENT_SHA)


def _json(data: bytes) -> dict:
    import json

    return json.loads(data)


def _stamp() -> str:
    """Now, as an annotation records it (RFC 3339)."""
    return machine.rfc3339(datetime.now(timezone.utc))


__all__ = ["ClusterService"]
