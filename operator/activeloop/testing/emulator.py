"""An in-process Kubernetes API for operator tests, built on ``kmock.KubernetesEmulator``.

kmock stores objects as given; a real API server also stamps ``uid``, ``resourceVersion``,
``creationTimestamp``, ``generation`` and the namespace. :class:`StampingEmulator` adds those (the
kubernetes client refuses ownerReferences without a uid). :class:`EmulatedCluster` runs it on
loopback in a thread of its own and writes a kubeconfig pointing at it, so the operator (kopf) and
the kubernetes client connect to it exactly as to a real cluster.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp.web
import jsonpatch
import kmock
import yaml
from kmock._internal import enums
from typing_extensions import override

from activeloop.api.resources import GROUP, VERSION

VERBS = {enums.action.LIST: "list", enums.action.WATCH: "watch", enums.action.FETCH: "get",
         enums.action.CREATE: "create", enums.action.UPDATE: "patch", enums.action.DELETE: "delete"}

Policy = dict[str, set[tuple[str, str]] | None]
"""Bearer token -> the (verb, resource) pairs it may use (``None``: everything); resources are
plurals, ``plural/status`` for the status subresource. Unknown tokens get 401."""


USERNAMES = {"scientist": "alice@lab.example", "viewer": "bob@lab.example", "test": "kubernetes-admin"}
"""The username a SelfSubjectReview gives each test token (as an OIDC provider would)."""


def _status_response(code: int, reason: str, message: str) -> aiohttp.web.Response:
    return aiohttp.web.json_response({"apiVersion": "v1", "kind": "Status", "status": "Failure",
                                      "reason": reason, "message": message, "code": code}, status=code)


class StampingEmulator(kmock.KubernetesEmulator):
    """``KubernetesEmulator`` that fills the metadata a real API server fills (including names
    from ``generateName``), answers a create with ``201 Created``, and, given a :data:`Policy`,
    authenticates bearer tokens (401) and authorizes each request as RBAC would (403)."""

    _counter = itertools.count(1)
    policy: Policy | None = None

    def _who_am_i(self, request: Any) -> aiohttp.web.Response:
        """A SelfSubjectReview, as the API server answers one: the caller's username (here, by
        token: ``token`` is ``user:<name>``'s own name, or the token itself)."""
        auth = {k.lower(): v for k, v in dict(request.headers or {}).items()}.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        if self.policy is not None and token not in self.policy:
            return _status_response(401, "Unauthorized", "Unauthorized")
        name = USERNAMES.get(token, token)
        return aiohttp.web.json_response({
            "apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview", "metadata": {},
            "status": {"userInfo": {"username": name, "groups": ["system:authenticated"]}}}, status=201)

    def _refusal(self, request: Any) -> aiohttp.web.Response | None:
        if self.policy is None:
            return None
        auth = {k.lower(): v for k, v in dict(request.headers or {}).items()}.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        if token not in self.policy:
            return _status_response(401, "Unauthorized", "Unauthorized")
        allowed = self.policy[token]
        if request.resource is None or request.resource.plural is None:
            return None  # discovery: every authenticated user may read it
        verb = VERBS.get(request.action, "get")
        resource = request.resource.plural + (f"/{request.subresource}" if request.subresource else "")
        if allowed is not None and (verb, resource) not in allowed:
            group = request.resource.group or ""
            where = f' in the namespace "{request.namespace}"' if request.namespace else ""
            return _status_response(403, "Forbidden", (
                f'{resource}{"." + group if group else ""} is forbidden: User "{token}" cannot {verb} resource '
                f'"{resource}" in API group "{group}"{where}'))
        return None

    @override
    async def _handle(self, request: Any) -> aiohttp.web.StreamResponse:
        if str(request.url.path).endswith("/apis/authentication.k8s.io/v1/selfsubjectreviews"):
            return self._who_am_i(request)
        refused = self._refusal(request)
        if refused is not None:
            return refused
        data = request.data
        if request.resource is not None and isinstance(data, dict):
            meta = data.setdefault("metadata", {})
            if request.action == enums.action.CREATE:
                if not meta.get("name") and meta.get("generateName"):
                    meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
                meta.setdefault("uid", str(uuid.uuid4()))
                meta.setdefault(
                    "creationTimestamp",
                    datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                )
                meta.setdefault("generation", 1)
                if request.namespace:
                    meta.setdefault("namespace", request.namespace)
                meta["resourceVersion"] = str(next(self._counter))
            elif request.action == enums.action.UPDATE:
                meta["resourceVersion"] = str(next(self._counter))
                if request.subresource is None and "spec" in data:
                    key = (request.resource, request.namespace, request.name)
                    if key in self._objects and not self._objects[key].deleted:
                        gen = self._objects[key].get("metadata", {}).get("generation", 1)
                        meta["generation"] = gen + 1
        try:
            response = await super()._handle(request)
        except jsonpatch.JsonPatchTestFailed as exc:
            # a real API server refuses a JSON patch whose "test" fails (optimistic concurrency on
            # resourceVersion) with 422 Unprocessable Entity; kopf re-reads and patches again
            return aiohttp.web.json_response(
                {"apiVersion": "v1", "kind": "Status", "status": "Failure", "reason": "Invalid",
                 "message": str(exc), "code": 422}, status=422)
        # a real API server answers a successful create with 201 Created (clients expect it)
        if request.action == enums.action.CREATE and response.status == 200 and not response.prepared:
            response.set_status(201)
        return response


def declare_activeloop(emulator: kmock.KubernetesEmulator) -> None:
    """Declare the built-in kinds and ActiveLoop's custom resources to the emulator."""
    emulator.resources.load_bundled()
    verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
    for kind, plural in (
        ("Campaign", "campaigns"),
        ("LoopRound", "looprounds"),
        ("AssayResult", "assayresults"),
        ("StudentModel", "studentmodels"),
    ):
        emulator.resources[f"{GROUP}/{VERSION}/{plural}"] = {
            "kind": kind,
            "singular": kind.lower(),
            "namespaced": True,
            "verbs": verbs,
            "shortnames": [],
            "categories": ["activeloop"],
            "subresources": ["status"],
        }


class EmulatedCluster:
    """A :class:`StampingEmulator` served on 127.0.0.1 from a background thread.

    Use as a context manager; ``kubeconfig`` is the path of a kubeconfig for it (token ``test``),
    :meth:`kubeconfig_for` writes one for another identity.

    Args:
        workdir: where kubeconfigs are written.
        emulator: makes the emulator (a :class:`StampingEmulator` or a subclass).
    """

    def __init__(self, workdir: str | Path, emulator: Callable[[], StampingEmulator] = StampingEmulator) -> None:
        self.workdir = Path(workdir)
        self.kubeconfig = self.workdir / "kubeconfig.yaml"
        self.url = ""
        self.emulator: StampingEmulator | None = None
        self._make = emulator
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="kmock", daemon=True)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with self._make() as emulator, kmock.Server(emulator) as server:
            declare_activeloop(emulator)
            self.emulator = emulator
            self.url = str(server.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()

    def kubeconfig_for(self, token: str, name: str | None = None) -> Path:
        """Write a kubeconfig that authenticates with bearer ``token``; returns its path."""
        path = self.workdir / (name or f"kubeconfig-{token}.yaml")
        config: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kmock", "cluster": {"server": self.url}}],
            "users": [{"name": "kmock", "user": {"token": token}}],
            "contexts": [
                {"name": "kmock", "context": {"cluster": "kmock", "user": "kmock", "namespace": "lab"}}
            ],
            "current-context": "kmock",
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def __enter__(self) -> EmulatedCluster:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the Kubernetes emulator did not start")
        self.kubeconfig_for("test", self.kubeconfig.name)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
