"""The Helm chart, rendered and linted with Helm's own engine (helm-python-sdk, no binary, no
cluster); every rendered manifest validated with kubernetes-validate for two Kubernetes versions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "activeloop"
K8S_VERSIONS = ["1.31", "1.33"]

VARIANTS = {
    "default": {},
    "clusterwide-gpu-existing-minio": {
        "rbac": {"clusterWide": True},
        "jobs": {"gpuResourceName": "nvidia.com/gpu", "nodeSelector": {"accelerator": "nvidia-a100"},
                 "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                 "imagePullSecrets": ["registry"]},
        "minio": {"bundled": False, "existing": {"endpoint": "minio.storage.svc:9000", "secure": True,
                                                 "secretName": "lab-s3"}},
        "operator": {"logLevel": "verbose"},
    },
    "several-namespaces": {"watchNamespaces": ["lab-a", "lab-b"]},
    "servicemonitor": {"operator": {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}}}},
    "no-metrics": {"operator": {"metrics": {"enabled": False}}},
    "notifications": {"notifications": {"webhookHosts": ["hooks.slack.com", "chat.lab.org"],
                                        "uiUrl": "https://activeloop.lab.org",
                                        "smtp": {"host": "smtp.lab.org", "user": "activeloop",
                                                 "passwordSecret": "smtp-password"}}},
}
CUSTOM_KINDS = {"ServiceMonitor"}  # not built in: checked by the tests below, not kubernetes-validate


def render(values: dict) -> list[dict]:
    import helm_python as helm

    chart = helm.Chart.load(str(CHART))
    out = chart.render(values, name="al", namespace="activeloop", is_install=True)
    docs = []
    for path, text in out.items():
        if path.endswith(".yaml"):
            docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_chart_renders_and_every_manifest_validates(variant):
    import kubernetes_validate

    docs = render(VARIANTS[variant])
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "ServiceAccount", "ConfigMap", "ClusterRole"} <= kinds
    for doc in docs:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        for version in K8S_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)


def test_chart_lints_strictly():
    import helm_python as helm

    for values in VARIANTS.values():
        result = helm.lint(str(CHART), values, strict=True, kube_version="v1.33.0")
        assert result["errors"] == [], result


def _by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def _component(docs, kind, component):
    return [d for d in _by_kind(docs, kind) if d["metadata"]["labels"].get("app.kubernetes.io/component") == component]


def test_default_install_is_namespaced_least_privilege_with_bundled_minio():
    docs = render({})
    # the only ClusterRoles are those for people (to bind per namespace); the operator's is a Role
    assert {r["metadata"]["name"] for r in _by_kind(docs, "ClusterRole")} == {
        "activeloop-viewer", "activeloop-scientist", "activeloop-campaign-editor"}
    (role,) = _by_kind(docs, "Role")
    assert role["metadata"]["namespace"] == "activeloop"
    verbs: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for g in rule["apiGroups"]:
            for r in rule["resources"]:
                verbs.setdefault((g, r), set()).update(rule["verbs"])
    assert verbs[("batch", "jobs")] == {"get", "list", "watch", "create"}
    assert "delete" not in set().union(*verbs.values())
    # least privilege: the operator only reads results and students, creates rounds, patches
    # campaigns (kopf's finalizer) and writes statuses
    assert verbs[("activeloop.dev", "assayresults")] == {"get", "list", "watch"}
    assert verbs[("activeloop.dev", "studentmodels")] == {"get", "list", "watch"}
    assert verbs[("activeloop.dev", "looprounds")] == {"get", "list", "watch", "create"}
    assert verbs[("activeloop.dev", "campaigns")] == {"get", "list", "watch", "patch"}
    assert verbs[("activeloop.dev", "assayresults/status")] == {"get", "patch"}
    # secrets: it creates one Secret per namespace (the lab's store credentials) and reads or
    # changes only that one; it reads no other Secret
    secret_rules = [r for r in role["rules"] if "secrets" in r["resources"]]
    assert {(tuple(r["verbs"]), tuple(r.get("resourceNames", ()))) for r in secret_rules} == {
        (("create",), ()), (("get", "patch"), ("activeloop-store",))}
    (sts,) = _by_kind(docs, "StatefulSet")
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "20Gi"
    (dep,) = _component(docs, "Deployment", "operator")
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert "--namespace=activeloop" in c["args"] and c["args"][-2:] == ["-m", "activeloop.controller.handlers"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["securityContext"]["readOnlyRootFilesystem"] and pod["securityContext"]["runAsNonRoot"]
    (cm,) = _by_kind(docs, "ConfigMap")
    assert cm["data"]["MINIO_ENDPOINT"] == "al-activeloop-minio.activeloop.svc:9000"
    assert cm["data"]["ACTIVELOOP_STORE_URI"] == "s3://activeloop"


def test_clusterwide_gpu_existing_minio_variant():
    docs = render(VARIANTS["clusterwide-gpu-existing-minio"])
    assert any(r["metadata"]["name"] == "al-activeloop" for r in _by_kind(docs, "ClusterRole"))
    assert _by_kind(docs, "ClusterRoleBinding")
    assert not _by_kind(docs, "Role") and not _by_kind(docs, "StatefulSet")
    (dep,) = _component(docs, "Deployment", "operator")
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--all-namespaces" in args and "--verbose" in args
    (cm,) = _by_kind(docs, "ConfigMap")
    assert cm["data"]["MINIO_ENDPOINT"] == "minio.storage.svc:9000" and cm["data"]["MINIO_SECURE"] == "true"
    assert "lab-s3" not in str(cm["data"])  # the store's own credentials reach no step Job
    # the operator reads exactly these settings
    from activeloop.controller.config import OperatorConfig

    cfg = OperatorConfig.from_env(cm["data"])
    place = cfg.job_policy.placement("any-lab")
    assert place.node_selector == {"accelerator": "nvidia-a100"} and place.tolerations[0]["key"] == "nvidia.com/gpu"
    assert cfg.image_pull_secrets == ["registry"] and cfg.job_policy.allowed_images == ["ghcr.io/activeloop/worker"]
    assert cfg.s3_secure and cfg.store_uri == "s3://activeloop" and cfg.store_tenancy == "operator"


def test_one_role_per_watched_namespace():
    docs = render(VARIANTS["several-namespaces"])
    assert sorted(r["metadata"]["namespace"] for r in _by_kind(docs, "Role")) == ["lab-a", "lab-b"]
    (dep,) = _component(docs, "Deployment", "operator")
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=lab-a" in args and "--namespace=lab-b" in args


@pytest.mark.parametrize(("values", "field"), [
    ({"operator": {"logLevel": "loud"}}, "logLevel"),
    ({"minio": {"bundled": False}}, "endpoint"),
    ({"minio": {"storage": "lots"}}, "storage"),
    ({"unknownKey": 1}, "unknownKey"),
])
def test_values_schema_rejects_bad_values(values, field):
    import helm_python as helm

    with pytest.raises(helm.HelmError) as info:
        render(values)
    assert field in str(info.value)


def test_chart_crds_are_the_generated_crds():
    for crd in sorted((ROOT / "crds").glob("*.yaml")):
        assert (CHART / "crds" / crd.name).read_text() == crd.read_text(), (
            f"helm/activeloop/crds/{crd.name} differs from crds/: run `activeloop crds --out helm/activeloop/crds`"
        )
    assert len(list((CHART / "crds").glob("*.yaml"))) == len(list((ROOT / "crds").glob("*.yaml")))


def test_values_yaml_documents_every_key():
    lines = (CHART / "values.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.startswith("-"):
            continue
        prev = lines[i - 1].strip() if i else ""
        assert prev.startswith("#"), f"values.yaml line {i + 1}: key {stripped.split(':')[0]!r} has no comment"


def test_metrics_are_served_and_a_service_monitor_is_optional():
    docs = render({})
    (svc,) = [d for d in _by_kind(docs, "Service") if d["metadata"]["name"].endswith("-operator-metrics")]
    assert svc["spec"]["ports"][0]["port"] == 8000 and svc["spec"]["selector"]["app.kubernetes.io/component"] == "operator"
    (dep,) = _component(docs, "Deployment", "operator")
    ports = {p["name"]: p["containerPort"] for p in dep["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert ports["metrics"] == 8000
    (cm,) = _by_kind(docs, "ConfigMap")
    assert cm["data"]["ACTIVELOOP_METRICS_PORT"] == "8000"
    assert not _by_kind(docs, "ServiceMonitor")
    docs = render(VARIANTS["servicemonitor"])
    (sm,) = _by_kind(docs, "ServiceMonitor")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1" and sm["metadata"]["labels"]["release"] == "prom"
    assert sm["spec"]["endpoints"] == [{"port": "metrics", "interval": "30s"}]
    assert sm["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "operator"
    docs = render(VARIANTS["no-metrics"])
    assert not [d for d in _by_kind(docs, "Service") if d["metadata"]["name"].endswith("-operator-metrics")]
    (cm,) = _by_kind(docs, "ConfigMap")
    assert cm["data"]["ACTIVELOOP_METRICS_PORT"] == "-1"


def _rules(role):
    out = set()
    for rule in role["rules"]:
        out |= {(verb, res) for res in rule["resources"] for verb in rule["verbs"]}
    return out


def test_roles_for_people_grant_what_their_names_say():
    roles = {r["metadata"]["name"]: _rules(r) for r in _by_kind(render({}), "ClusterRole")}
    viewer, scientist = roles["activeloop-viewer"], roles["activeloop-scientist"]
    assert viewer == {(v, r) for v in ("get", "list", "watch")
                      for r in ("campaigns", "looprounds", "assayresults", "studentmodels")}
    assert scientist - viewer == {("create", "assayresults"), ("patch", "looprounds"), ("create", "looprounds"),
                                  ("create", "studentmodels")}
    assert not any(verb == "delete" for rules in roles.values() for verb, _ in rules)
    assert ("create", "campaigns") in roles["activeloop-campaign-editor"]


def test_the_ui_runs_as_its_users_without_rights_of_its_own():
    docs = render({"watchNamespaces": ["lab-a", "lab-b"],
                   "ui": {"ingress": {"enabled": True, "className": "nginx", "tlsSecretName": "tls"}}})
    (dep,) = _component(docs, "Deployment", "ui")
    pod = dep["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False and pod["securityContext"]["runAsNonRoot"]
    c = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert c["args"] == ["python", "-m", "activeloop.web"] and env["ACTIVELOOP_UI_NAMESPACES"] == "lab-a,lab-b"
    assert c["securityContext"]["readOnlyRootFilesystem"]
    (sa,) = [s for s in _by_kind(docs, "ServiceAccount") if s["metadata"]["name"].endswith("-ui")]
    assert sa["automountServiceAccountToken"] is False
    bound = {s["name"] for b in _by_kind(docs, "RoleBinding") + _by_kind(docs, "ClusterRoleBinding")
             for s in b["subjects"]}
    assert sa["metadata"]["name"] not in bound  # no rights of its own
    (ing,) = _by_kind(docs, "Ingress")
    assert ing["spec"]["tls"][0]["secretName"] == "tls" and ing["spec"]["ingressClassName"] == "nginx"
    (np,) = _by_kind(docs, "NetworkPolicy")
    assert np["spec"]["policyTypes"] == ["Ingress"] and np["spec"]["ingress"][0]["ports"][0]["port"] == "http"
    assert not _component(render({"ui": {"enabled": False}}), "Deployment", "ui")


def test_each_namespace_gets_its_placement_and_the_images_allowed_are_the_charts():
    from activeloop.controller.config import OperatorConfig

    gpu = {"nodeSelector": {"accelerator": "a100"}, "tolerations": [{"key": "gpu", "operator": "Exists"}]}
    docs = render({"watchNamespaces": ["lab-a", "lab-b"], "minio": {"tenancy": "provided"},
                   "jobs": {"allowedImages": ["registry.example.org/activeloop/worker",
                                              "registry.example.org/activeloop/worker-cuda"],
                            "nodeSelector": {"pool": "shared"},
                            "placement": {"lab-a": {"nodeSelector": {"pool": "lab-a"}, "choices": [gpu]}}}})
    (cm,) = _by_kind(docs, "ConfigMap")
    cfg = OperatorConfig.from_env(cm["data"])
    assert cfg.store_tenancy == "provided"
    assert cfg.job_policy.placement("lab-a").node_selector == {"pool": "lab-a"}
    assert list(cfg.job_policy.placement("lab-a").choices) == [gpu]
    assert cfg.job_policy.placement("lab-b").node_selector == {"pool": "shared"}
    assert cfg.job_policy.allowed_images == ["registry.example.org/activeloop/worker",
                                             "registry.example.org/activeloop/worker-cuda"]
    # provided credentials: the operator may read the namespace's Secret, and make none
    for role in _by_kind(docs, "Role"):
        secret_rules = [r for r in role["rules"] if "secrets" in r["resources"]]
        assert [(r["verbs"], r["resourceNames"]) for r in secret_rules] == [(["get"], ["activeloop-store"])]


def _admits(policy, campaign) -> tuple[bool, str]:
    import celpy

    env = celpy.Environment()
    variables = {v["name"]: env.program(env.compile(v["expression"])).evaluate({}) for v in policy["spec"]["variables"]}
    act = {"object": celpy.json_to_cel(campaign), "variables": celpy.json_to_cel({})}
    act["variables"] = celpy.celtypes.MapType({celpy.celtypes.StringType(k): v for k, v in variables.items()})
    (check,) = policy["spec"]["validations"]
    ok = bool(env.program(env.compile(check["expression"])).evaluate(act))
    # Kubernetes' CEL has the strings extension (list.join); cel-python's core does not: given here
    join = {"join": lambda items, sep: celpy.celtypes.StringType(str(sep).join(str(i) for i in items))}
    message = "" if ok else str(env.program(env.compile(check["messageExpression"]), functions=join).evaluate(act))
    return ok, message


def test_an_admission_policy_refuses_a_campaign_running_an_image_off_the_list():
    docs = render({"jobs": {"allowedImages": ["ghcr.io/activeloop/worker", "ghcr.io/activeloop/worker-cuda"]}})
    (policy,) = _by_kind(docs, "ValidatingAdmissionPolicy")
    (binding,) = _by_kind(docs, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["policyName"] == policy["metadata"]["name"] and binding["spec"]["validationActions"] == ["Deny"]
    assert policy["spec"]["matchConstraints"]["resourceRules"][0]["resources"] == ["campaigns"]
    base = {"apiVersion": "activeloop.dev/v1alpha1", "kind": "Campaign", "metadata": {"name": "c"},
            "spec": {"parentSequence": "MKV", "library": {"sites": [2]}}}
    assert _admits(policy, base)[0]
    for image in ("ghcr.io/activeloop/worker:0.1.0", "ghcr.io/activeloop/worker-cuda@sha256:abc"):
        assert _admits(policy, {**base, "spec": {**base["spec"], "jobs": {"image": image}}})[0], image
    for image in ("docker.io/attacker/miner", "ghcr.io/activeloop/worker-evil:1"):
        ok, message = _admits(policy, {**base, "spec": {**base["spec"], "jobs": {"image": image}}})
        assert not ok and f"spec.jobs.image: {image} is not an image this installation runs" in message
    assert not _by_kind(render({"jobs": {"admissionPolicy": False}}), "ValidatingAdmissionPolicy")


def test_the_ui_and_operator_spool_to_bounded_volumes():
    docs = render({})
    for component, limit in (("ui", "256Mi"), ("operator", "64Mi")):
        (dep,) = _component(docs, "Deployment", component)
        (tmp,) = dep["spec"]["template"]["spec"]["volumes"]
        assert tmp["emptyDir"] == {"sizeLimit": limit}, component


def test_notifications_reach_only_the_hosts_and_server_the_chart_names():
    from activeloop.lifecycle.notify import from_env

    docs = render(VARIANTS["notifications"])
    (config,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-config")]
    (dep,) = _component(docs, "Deployment", "operator")
    (mount,) = [m for m in dep["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] if m["name"] == "smtp"]
    (volume,) = [v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "smtp"]
    assert volume["secret"]["secretName"] == "smtp-password" and mount["readOnly"]
    env = dict(config["data"])
    password = Path(mount["mountPath"]) / "password"
    assert env["ACTIVELOOP_SMTP_PASSWORD_FILE"] == str(password)
    env.pop("ACTIVELOOP_SMTP_PASSWORD_FILE")  # (the file exists only in the pod)
    settings = from_env(env)
    assert settings.webhook_hosts == ("hooks.slack.com", "chat.lab.org") and settings.smtp_host == "smtp.lab.org"
    assert settings.page_url == "https://activeloop.lab.org" and settings.smtp_starttls
    default = dict(next(d for d in render({}) if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith(
        "-config"))["data"])
    assert from_env(default).webhook_hosts == ("hooks.slack.com",) and from_env(default).smtp_host is None
