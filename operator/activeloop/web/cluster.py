"""The web interface's backend on a cluster: every call goes to the Kubernetes API *as the caller*.

The server builds, for each user, an API client that carries the user's own bearer token (an
OIDC ID token that oauth2-proxy passes through, or a ServiceAccount token pasted on the login
page) and none of the server's credentials, so the API server's RBAC decides every read and write:
the interface can never do more than its user could with ``kubectl``. A refusal becomes 403 naming
the verb and resource; a token the API server no longer accepts becomes 401 (sign in again).

Artifacts (proposals with predictions, records, student files) live in the object store, which
the server reads with its own store credentials, but only after reading the campaign or round as
the user succeeded. Results are recorded as AssayResult objects built by the same code as
``activeloop record --apply`` (``steps.ingest.assay_manifests``).
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Callable
from typing import Any

import kubernetes
import pandas as pd
from kubernetes.client import ApiException
from pydantic import ValidationError
from typing_extensions import override

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
    ProposalRow,
    RecordResult,
    RoundDetail,
    RoundHashes,
    RoundSummary,
    StepView,
    StudentView,
)
from activeloop.controller.builders import round_name
from activeloop.errors import (
    ConfigError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnauthorizedError,
    format_validation_error,
)
from activeloop.steps import ingest
from activeloop.steps.data import build_library, round_prefix
from activeloop.store import ArtifactStore, store_from_uri
from activeloop.web.backend import (
    Backend,
    Plate,
    RecordOptions,
    User,
    best_by_round,
    check_artifact_key,
    check_plate,
    number_or_none,
    plate_name,
    require_name,
)

TIMEOUT = (5, 30)


def base_configuration() -> kubernetes.client.Configuration:
    """Where the API server is (in a pod: the ServiceAccount's host and CA; else the kubeconfig),
    with every credential removed: each request adds its user's token."""
    config = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(client_configuration=config)
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(config_file=os.environ.get("KUBECONFIG"), client_configuration=config)
    config.api_key = {}
    config.api_key_prefix = {}
    config.cert_file = config.key_file = None
    config.username = config.password = None
    config.refresh_api_key_hook = None
    return config


class ClusterBackend(Backend):
    """Campaigns in ``namespaces`` of a cluster, reached as each caller.

    Args:
        namespaces: the namespaces this interface serves (the first is the default).
        store_uri: root of the artifact store (``s3://bucket``), as the operator's.
        configuration: where the API server is (default: :func:`base_configuration`).
    """

    kind = "cluster"

    def __init__(self, namespaces: list[str], store_uri: str,
                 configuration: kubernetes.client.Configuration | None = None) -> None:
        if not namespaces:
            raise ConfigError("namespaces", "name at least one namespace to serve")
        self.namespaces = tuple(namespaces)
        self.store_uri = store_uri.rstrip("/")
        self.configuration = configuration or base_configuration()
        self._clients: dict[str, kubernetes.client.ApiClient] = {}
        self._stores: dict[tuple[str, str], ArtifactStore] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------ plumbing

    def _client(self, user: User) -> kubernetes.client.CustomObjectsApi:
        if not user.token:
            raise UnauthorizedError("this server acts with your own cluster token: sign in with it")
        key = hashlib.sha256(user.token.encode()).hexdigest()
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                config = kubernetes.client.Configuration()
                for attr in ("host", "ssl_ca_cert", "verify_ssl", "proxy", "assert_hostname", "tls_server_name"):
                    setattr(config, attr, getattr(self.configuration, attr, None))
                config.api_key = {"authorization": user.token}
                config.api_key_prefix = {"authorization": "Bearer"}
                if len(self._clients) >= 64:  # a bounded cache: the oldest user's client goes
                    self._clients.pop(next(iter(self._clients))).close()
                client = self._clients[key] = kubernetes.client.ApiClient(config)
        return kubernetes.client.CustomObjectsApi(client)

    def _ns(self, namespace: str | None) -> str:
        ns = namespace or self.namespaces[0]
        if ns not in self.namespaces:
            raise NotFoundError(f"this interface does not serve namespace {ns!r}; it serves {list(self.namespaces)}")
        return ns

    @staticmethod
    def _call(verb: str, resource: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, _request_timeout=TIMEOUT, **kwargs)
        except ApiException as exc:
            if exc.status == 401:
                raise UnauthorizedError("the cluster no longer accepts your token: sign in again") from None
            if exc.status == 403:
                raise ForbiddenError(verb, resource, _reason(exc)) from None
            if exc.status == 404:
                raise NotFoundError(f"{resource} not found") from None
            if exc.status == 409:
                raise ConflictError(f"{resource} exists already") from None
            if exc.status == 422:
                raise ConfigError(resource, _reason(exc)) from None
            raise

    def _get(self, user: User, plural: str, ns: str, name: str) -> dict[str, Any]:
        return self._call("get", f"{plural}/{name} in {ns}", self._client(user).get_namespaced_custom_object,
                          GROUP, VERSION, ns, plural, name)

    def _list(self, user: User, plural: str, ns: str) -> list[dict[str, Any]]:
        out = self._call("list", f"{plural} in {ns}", self._client(user).list_namespaced_custom_object,
                         GROUP, VERSION, ns, plural)
        return list(out.get("items") or [])

    def _store(self, ns: str, campaign: str) -> ArtifactStore:
        key = (ns, campaign)
        with self._lock:
            if key not in self._stores:
                self._stores[key] = store_from_uri(f"{self.store_uri}/{ns}/{campaign}")
            return self._stores[key]

    @override
    def check_login(self, user: User) -> None:
        """A token the API server does not know is refused at login (401), not on the next page."""
        try:
            self._list(user, "campaigns", self.namespaces[0])
        except ForbiddenError:
            pass  # a known identity without rights here: its pages will say what it may not do

    # ----------------------------------------------------------------------------- campaigns

    @staticmethod
    def _summary(obj: dict[str, Any], ns: str) -> CampaignSummary:
        st = CampaignStatus.lenient(obj.get("status"))
        failed = next((c.message for c in st.conditions if c.type in ("RoundFailed", "Ready")
                       and (c.type == "RoundFailed" or c.status == "False")), None)
        return CampaignSummary(
            name=obj["metadata"]["name"], namespace=ns, phase=st.phase.value, current_round=st.current_round,
            rounds_planned=st.rounds_planned, measured=st.measured, failed=st.failed,
            pending=st.proposals_pending, best_variant=st.best_variant, best_value=st.best_value,
            last_change=st.phase_since, message=failed)

    @override
    def campaigns(self, user: User) -> list[CampaignSummary]:
        return [self._summary(obj, ns) for ns in self.namespaces for obj in self._list(user, "campaigns", ns)]

    @override
    def campaign(self, user: User, name: str, namespace: str | None = None) -> CampaignDetail:
        ns = self._ns(namespace)
        obj = self._get(user, "campaigns", ns, name)
        summary = self._summary(obj, ns)
        spec = CampaignResourceSpec.model_validate(obj.get("spec") or {})
        st = CampaignStatus.lenient(obj.get("status"))
        return CampaignDetail(
            **summary.model_dump(), spec=spec.core(), direction=spec.objective.direction,
            conditions=st.conditions, library_size=len(build_library(spec.core())),
            can_start_next_round=summary.phase in ("WaitingForAssays",) and st.current_round > 0)

    @override
    def create_campaign(self, user: User, name: str, spec: dict, namespace: str | None = None) -> CampaignDetail:
        ns = self._ns(namespace)
        require_name(name)
        try:
            parsed = CampaignResourceSpec.model_validate(spec)
        except ValidationError as exc:
            raise ConfigError("spec", format_validation_error(exc)) from None
        build_library(parsed.core())
        body = {"apiVersion": API_VERSION, "kind": "Campaign", "metadata": {"name": name, "namespace": ns},
                "spec": parsed.model_dump(mode="json", by_alias=True, exclude_none=True)}
        self._call("create", f"campaigns in {ns}", self._client(user).create_namespaced_custom_object,
                   GROUP, VERSION, ns, "campaigns", body)
        return self.campaign(user, name, ns)

    # -------------------------------------------------------------------------------- rounds

    def _rounds(self, user: User, name: str, ns: str) -> list[tuple[int, dict[str, Any], LoopRoundStatus]]:
        out = []
        for obj in self._list(user, "looprounds", ns):
            spec = obj.get("spec") or {}
            if spec.get("campaign") == name:
                out.append((int(spec.get("round") or 0), obj, LoopRoundStatus.lenient(obj.get("status"))))
        return sorted(out, key=lambda t: t[0])

    @staticmethod
    def _round_summary(number: int, obj: dict[str, Any], st: LoopRoundStatus) -> RoundSummary:
        failed = next((c.message for c in st.conditions if c.type == "Failed"), None)
        closed = next((c for c in st.conditions if c.type == "Completed" and c.reason == "ClosedByLab"), None)
        return RoundSummary(
            round=number, phase=st.phase.value, started_at=st.started_at, completed_at=st.completed_at,
            proposed=len(st.proposals), measured=st.measured, failed=st.failed, pending=st.pending,
            closed=closed is not None, message=failed,
            steps={s: StepView(state=getattr(st, s).state, job=getattr(st, s).job,
                               started_at=getattr(st, s).started_at, finished_at=getattr(st, s).finished_at,
                               message=getattr(st, s).message, cost=getattr(st, s).cost)
                   for s in (("tune", "score", "acquire") if st.shards > 1 else ("tune", "acquire"))})

    @override
    def rounds(self, user: User, name: str, namespace: str | None = None) -> list[RoundSummary]:
        ns = self._ns(namespace)
        self._get(user, "campaigns", ns, name)
        return [self._round_summary(n, obj, st) for n, obj, st in self._rounds(user, name, ns)]

    def _measurements(self, ns: str, name: str) -> pd.DataFrame:
        store = self._store(ns, name)
        if not store.exists("measurements.csv"):
            return ingest.measurements(store, [])
        return ingest.read_measurements_csv(store.get_bytes("measurements.csv"))

    @override
    def round(self, user: User, name: str, number: int, namespace: str | None = None) -> RoundDetail:
        ns = self._ns(namespace)
        obj = self._get(user, "looprounds", ns, round_name(name, number))
        st = LoopRoundStatus.lenient(obj.get("status"))
        summary = self._round_summary(number, obj, st)
        store = self._store(ns, name)
        rows: list[ProposalRow] = []
        key = f"{round_prefix(number)}/proposals.csv"
        if st.proposals and store.exists(key):
            data = self._measurements(ns, name).set_index("variant")
            props = pd.read_csv(io.BytesIO(store.get_bytes(key)), dtype={"variant": str}, keep_default_na=False,
                                na_values=[""])
            for p in props.itertuples(index=False):
                got = data.loc[p.variant] if p.variant in data.index else None
                rows.append(ProposalRow(
                    rank=int(p.rank), variant=p.variant, mean=number_or_none(p.mean), std=number_or_none(p.std),
                    measured=None if got is None or bool(got["failed"]) else float(got["value"]),
                    failed=bool(got["failed"]) if got is not None else False))
        scale = None
        acquire = f"{round_prefix(number)}/acquire.json"
        if store.exists(acquire):
            import json

            scale = json.loads(store.get_bytes(acquire)).get("prediction_scale")
        return RoundDetail(**summary.model_dump(), proposals=rows, prediction_scale=scale, hashes=RoundHashes(
            spec_sha256=st.inputs.spec_sha256 if st.inputs else None,
            measurements_sha256=st.measurements_sha256, model_sha256=st.model_sha256,
            proposals_sha256=st.proposals_sha256))

    @override
    def history(self, user: User, name: str, namespace: str | None = None) -> list[HistoryPoint]:
        ns = self._ns(namespace)
        detail = self.campaign(user, name, ns)
        rounds = self._rounds(user, name, ns)
        round_of = {v: n for n, _, st in rounds for v in st.proposals}
        return best_by_round(self._measurements(ns, name), round_of, [n for n, _, _ in rounds], detail.direction)

    # ------------------------------------------------------------------------------- actions

    @override
    def record(self, user: User, name: str, plate: Plate, options: RecordOptions,
               namespace: str | None = None) -> RecordResult:
        ns = self._ns(namespace)
        obj = self._get(user, "campaigns", ns, name)
        spec = CampaignResourceSpec.model_validate(obj.get("spec") or {}).core()
        checked = check_plate(plate, spec, build_library(spec), options)
        base = {"rows": int(len(checked.rows)), "failed": int(checked.rows["failed"].sum()),
                "preview": checked.preview, "supersedes": list(options.supersedes)}
        plate_id = f"{name}-{plate_name(options, checked)}"[:53].rstrip("-")
        if options.dry_run:
            return RecordResult(recorded=False, dry_run=True, name=plate_id, **base)
        key = "activeloop.dev/content-sha256"
        same = [o["metadata"]["name"] for o in self._list(user, "assayresults", ns)
                if (o.get("spec") or {}).get("campaign") == name
                and ((o.get("metadata") or {}).get("annotations") or {}).get(key) == checked.sha256]
        if same and not options.supersedes:  # the same results sent again, under any name
            return RecordResult(recorded=False, name=same[0], duplicate_of=same[0], **base)
        docs = ingest.assay_manifests(name, checked.rows, name=plate_id, round_number=options.round,
                                      replicates=options.replicates, supersedes=options.supersedes, namespace=ns)
        client = self._client(user)
        created = 0
        for doc in docs:
            try:
                self._call("create", f"assayresults in {ns}", client.create_namespaced_custom_object,
                           GROUP, VERSION, ns, "assayresults", doc)
                created += 1
            except ConflictError:
                old = self._get(user, "assayresults", ns, doc["metadata"]["name"])
                if ((old.get("metadata") or {}).get("annotations") or {}).get(key) != checked.sha256:
                    raise ConflictError(f"a plate named {doc['metadata']['name']} was recorded with other "
                                        "results; give another name, and supersede it to correct it") from None
        name_out = docs[0]["metadata"]["name"] if len(docs) == 1 else plate_id
        return RecordResult(recorded=created > 0, name=name_out, duplicate_of=None if created else name_out, **base)

    @override
    def next_round(self, user: User, name: str, namespace: str | None = None) -> NextRoundResult:
        ns = self._ns(namespace)
        obj = self._get(user, "campaigns", ns, name)
        current = int((obj.get("status") or {}).get("currentRound") or 0)
        if not current:
            raise ConflictError(f"campaign {name} has not started a round yet; the operator starts round 1")
        rname = round_name(name, current)
        st = LoopRoundStatus.lenient(self._get(user, "looprounds", ns, rname).get("status"))
        if st.phase.value != "WaitingForAssays":
            raise ConflictError(f"round {current} is {st.phase.value}: only a round waiting for results can be closed")
        self._call("patch", f"looprounds/{rname} in {ns}", self._client(user).patch_namespaced_custom_object,
                   GROUP, VERSION, ns, "looprounds", rname, {"spec": {"close": True}})
        return NextRoundResult(closed_round=current, next_round=current + 1,
                               message=f"round {current} closed; the operator starts round {current + 1}")

    @override
    def students(self, user: User, name: str, namespace: str | None = None) -> list[StudentView]:
        ns = self._ns(namespace)
        out = []
        for obj in self._list(user, "studentmodels", ns):
            spec = obj.get("spec") or {}
            if spec.get("campaign") != name:
                continue
            st = StudentModelStatus.lenient(obj.get("status"))
            out.append(StudentView(name=obj["metadata"]["name"], round=int(spec.get("round") or 0), phase=st.phase,
                                   parameters=st.parameters, bytes=st.bytes, latency_ms=st.latency_ms,
                                   spearman_teacher=st.spearman_teacher, spearman_measured=st.spearman_measured,
                                   message=st.message))
        return out

    @override
    def artifact(self, user: User, name: str, key: str, namespace: str | None = None) -> bytes:
        ns = self._ns(namespace)
        check_artifact_key(key)
        self._get(user, "campaigns", ns, name)  # the user may read the campaign: then its artifacts
        try:
            return self._store(ns, name).get_bytes(key)
        except KeyError:
            raise NotFoundError(f"campaign {name} has no {key}") from None


def _reason(exc: ApiException) -> str:
    import json

    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except ValueError:
        return str(exc.reason)


__all__ = ["ClusterBackend", "base_configuration"]
