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
}


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
    assert {"Deployment", "ServiceAccount", "ConfigMap"} <= kinds
    for doc in docs:
        for version in K8S_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)


def test_chart_lints_strictly():
    import helm_python as helm

    for values in VARIANTS.values():
        result = helm.lint(str(CHART), values, strict=True, kube_version="v1.33.0")
        assert result["errors"] == [], result


def _by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def test_default_install_is_namespaced_least_privilege_with_bundled_minio():
    docs = render({})
    assert not _by_kind(docs, "ClusterRole")
    (role,) = _by_kind(docs, "Role")
    assert role["metadata"]["namespace"] == "activeloop"
    verbs = {(g, r): set(rule["verbs"]) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert verbs[("batch", "jobs")] == {"get", "list", "watch", "create"}
    assert "delete" not in set().union(*verbs.values())
    assert not any("secrets" in rule["resources"] for rule in role["rules"])
    (sts,) = _by_kind(docs, "StatefulSet")
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "20Gi"
    (dep,) = _by_kind(docs, "Deployment")
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
    assert _by_kind(docs, "ClusterRole") and _by_kind(docs, "ClusterRoleBinding")
    assert not _by_kind(docs, "Role") and not _by_kind(docs, "StatefulSet")
    (dep,) = _by_kind(docs, "Deployment")
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--all-namespaces" in args and "--verbose" in args
    (cm,) = _by_kind(docs, "ConfigMap")
    assert cm["data"]["MINIO_ENDPOINT"] == "minio.storage.svc:9000" and cm["data"]["MINIO_SECURE"] == "true"
    assert cm["data"]["ACTIVELOOP_S3_SECRET"] == "lab-s3"
    assert yaml.safe_load(cm["data"]["ACTIVELOOP_JOB_TOLERATIONS"])[0]["key"] == "nvidia.com/gpu"
    # the operator reads exactly these settings
    from activeloop.controller.config import OperatorConfig

    cfg = OperatorConfig.from_env(cm["data"])
    assert cfg.job_node_selector == {"accelerator": "nvidia-a100"} and cfg.image_pull_secrets == ["registry"]
    assert cfg.s3_secure and cfg.store_uri == "s3://activeloop"


def test_one_role_per_watched_namespace():
    docs = render(VARIANTS["several-namespaces"])
    assert sorted(r["metadata"]["namespace"] for r in _by_kind(docs, "Role")) == ["lab-a", "lab-b"]
    (dep,) = _by_kind(docs, "Deployment")
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
