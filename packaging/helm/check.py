#!/usr/bin/env python3
"""Checks Burgee's Helm chart without a helm binary or a cluster, and renders it for tests.

  check.py check            lint the chart, render it in several configurations, validate
                            every manifest against Kubernetes' schemas, check what the
                            chart promises, and check that packaging/k8s is the chart's
                            default rendering
  check.py render VALUES    print the rendered manifests as a JSON list (VALUES: a JSON
                            object of chart values, or - for none)
  check.py manifests        rewrite packaging/k8s/burgee.yaml from the chart

Needs helm-python-sdk, kubernetes-validate and PyYAML (packaging/requirements.txt).
"""

import json
import pathlib
import subprocess
import sys

import helm_python
import kubernetes_validate
import yaml

HERE = pathlib.Path(__file__).resolve().parent
CHART = HERE / "burgee"
MANIFESTS = HERE.parent / "k8s" / "burgee.yaml"
KUBE_VERSION = "1.30"
RELEASE = "burgee"
NAMESPACE = "burgee"
# Kinds whose schema comes from an operator's CRD, not from Kubernetes itself.
CUSTOM_KINDS = {"ServiceMonitor"}


def render(values=None, name=RELEASE, namespace=NAMESPACE):
    chart = helm_python.Chart.load(str(CHART))
    try:
        rendered = chart.render(values or {}, name=name, namespace=namespace, is_install=True)
    finally:
        chart.close()
    docs = []
    for path in sorted(rendered):
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(rendered[path]) if d)
    return docs


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def container(docs):
    (statefulset,) = by_kind(docs, "StatefulSet")
    (burgee,) = statefulset["spec"]["template"]["spec"]["containers"]
    return statefulset, burgee


def env(burgee):
    return {e["name"]: e.get("value") for e in burgee["env"]}


class Failures:
    def __init__(self):
        self.messages = []

    def expect(self, condition, message):
        if not condition:
            self.messages.append(message)


def validate(docs, scenario, failures):
    for doc in docs:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            failures.expect(False, f"{scenario}: {doc['kind']} {doc['metadata']['name']}: {error.message}")


def check_promises(failures):
    docs = render()
    validate(docs, "defaults", failures)
    statefulset, burgee = container(docs)
    spec = statefulset["spec"]
    pod = spec["template"]["spec"]
    settings = env(burgee)
    failures.expect(spec["replicas"] == 3, "three nodes by default")
    failures.expect(spec["podManagementPolicy"] == "Parallel", "pods start in parallel")
    failures.expect(
        settings["BURGEE_INITIAL_CLUSTER"].count("=http://") == 3,
        f"--initial-cluster names three members: {settings['BURGEE_INITIAL_CLUSTER']}",
    )
    failures.expect("BURGEE_NODE_ID" not in settings, "node ids come from pod hostnames")
    failures.expect("BURGEE_TLS_CERT" not in settings, "no TLS unless asked")
    failures.expect(pod["securityContext"]["runAsNonRoot"] is True, "non-root pods")
    security = burgee["securityContext"]
    failures.expect(security["readOnlyRootFilesystem"] is True, "read-only root filesystem")
    failures.expect(security["allowPrivilegeEscalation"] is False, "no privilege escalation")
    failures.expect(security["capabilities"]["drop"] == ["ALL"], "no capabilities")
    failures.expect(burgee["readinessProbe"]["httpGet"]["path"] == "/health/readiness", "readiness probe")
    failures.expect(burgee["livenessProbe"]["httpGet"]["path"] == "/health/liveness", "liveness probe")
    failures.expect("limits" in burgee["resources"], "resource limits")
    failures.expect(
        "preferredDuringSchedulingIgnoredDuringExecution" in pod["affinity"]["podAntiAffinity"],
        "soft anti-affinity by default",
    )
    (pdb,) = by_kind(docs, "PodDisruptionBudget") or [None]
    failures.expect(pdb is not None and pdb["spec"]["maxUnavailable"] == 1, "a PDB of one")
    (peers,) = [s for s in by_kind(docs, "Service") if s["spec"].get("clusterIP") == "None"]
    failures.expect(peers["spec"]["publishNotReadyAddresses"] is True, "peers resolve before ready")
    failures.expect(len(by_kind(docs, "Secret")) == 1, "a generated cluster secret")
    failures.expect(spec["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "2Gi", "PVCs")

    single = render({"replicaCount": 1})
    validate(single, "one node", failures)
    statefulset, burgee = container(single)
    failures.expect(statefulset["spec"]["replicas"] == 1, "one node")
    failures.expect(env(burgee)["BURGEE_INITIAL_CLUSTER"].count("=") == 1, "a cluster of one")
    failures.expect(not by_kind(single, "PodDisruptionBudget"), "no PDB for one node")

    everything = {
        "podAntiAffinity": "hard",
        "cluster": {
            "existingSecret": "ours",
            "existingSecretKey": "secret",
            "tls": {"existingSecret": "peers-tls"},
        },
        "bootstrapToken": {"existingSecret": "first-admin", "key": "token"},
        "tls": {"existingSecret": "flags-tls"},
        "metrics": {"serviceMonitor": {"enabled": True, "interval": "15s"}},
        "extraEnv": [{"name": "BURGEE_MAX_CONNECTIONS", "value": "5000"}],
        "persistence": {"size": "10Gi", "storageClass": "fast", "accessModes": ["ReadWriteOnce"]},
        "service": {"type": "LoadBalancer", "port": 80},
    }
    full = render(everything)
    validate(full, "every option", failures)
    statefulset, burgee = container(full)
    settings = env(burgee)
    failures.expect(not by_kind(full, "Secret"), "an existing cluster secret is used, none made")
    failures.expect(settings["BURGEE_CLUSTER_SECRET_FILE"].endswith("/secret"), "the secret's key")
    failures.expect("BURGEE_BOOTSTRAP_TOKEN_FILE" in settings, "the bootstrap token from a Secret")
    failures.expect(
        settings.get("BURGEE_TLS_CERT") == "/etc/burgee/tls/tls.crt"
        and any(v.get("secret", {}).get("secretName") == "flags-tls" for v in statefulset["spec"]["template"]["spec"]["volumes"]),
        "TLS from a Secret",
    )
    failures.expect(
        burgee["readinessProbe"]["httpGet"]["port"] == "ops",
        "probes stay on the plain ops port with TLS",
    )
    failures.expect(
        settings["BURGEE_INITIAL_CLUSTER"].count("=https://") == 3
        and settings["BURGEE_ADVERTISE_CLUSTER_URL"].startswith("https://")
        and settings.get("BURGEE_CLUSTER_CA") == "/etc/burgee/cluster-tls/ca.crt"
        and settings.get("BURGEE_TLS_CLIENT_CA") == "/etc/burgee/cluster-tls/ca.crt"
        and any(v.get("secret", {}).get("secretName") == "peers-tls" for v in statefulset["spec"]["template"]["spec"]["volumes"]),
        "mutual TLS between nodes from a Secret, with https peer URLs",
    )
    one_way = env(container(render({"cluster": {"tls": {"existingSecret": "peers-tls", "mutual": False}}}))[1])
    failures.expect(
        "BURGEE_TLS_CLIENT_CA" not in one_way and "BURGEE_CLUSTER_CA" in one_way,
        "TLS between nodes without client certificates on request",
    )
    failures.expect(settings.get("BURGEE_MAX_CONNECTIONS") == "5000", "extra settings")
    failures.expect(len(by_kind(full, "ServiceMonitor")) == 1, "a ServiceMonitor on request")
    failures.expect(
        "requiredDuringSchedulingIgnoredDuringExecution" in statefulset["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"],
        "hard anti-affinity on request",
    )

    # The schema refuses what would make a broken cluster or a typo that would be ignored.
    for bad, why in [
        ({"replicaCount": 2}, "an even number of nodes"),
        ({"replicaCount": "3"}, "a replica count given as a string"),
        ({"replicas": 3}, "an unknown top-level value"),
        ({"podAntiAffinity": "always"}, "an unknown anti-affinity mode"),
        ({"extraEnv": [{"name": "PATH", "value": "/"}]}, "an extra setting that is not BURGEE_*"),
        ({"cluster": {"snapshotEntries": 5, "existingSecretKey": "k"}}, "a snapshot interval under 10"),
    ]:
        try:
            render(bad)
        except helm_python.HelmError:
            continue
        failures.expect(False, f"the schema accepted {why}: {bad}")


def check_kustomize(failures):
    """The kustomize base builds offline and every object in it is valid."""
    built = subprocess.run(
        ["kubectl", "kustomize", str(MANIFESTS.parent)], capture_output=True, text=True
    )
    failures.expect(built.returncode == 0, f"kubectl kustomize: {built.stderr.strip()}")
    if built.returncode == 0:
        docs = [d for d in yaml.safe_load_all(built.stdout) if d]
        failures.expect(
            all(d["metadata"].get("namespace", NAMESPACE) == NAMESPACE for d in docs),
            "every object is in the burgee namespace",
        )
        validate(docs, "kustomize", failures)


def lint(failures):
    report = helm_python.lint(str(CHART), strict=True, kube_version=f"v{KUBE_VERSION}.0")
    for message in report.get("messages", []):
        failures.expect(message["severity"] < 2, f"helm lint: {message['path']}: {message['error']}")
    for error in report.get("errors", []):
        failures.expect(False, f"helm lint: {error}")


def default_manifests():
    """The chart's default rendering for plain `kubectl apply -k`: without Helm's labels,
    and without the generated Secret (the install guide makes it, so it is never in git)."""
    docs = [d for d in render() if d["kind"] != "Secret"]
    for doc in docs:
        for labels in labels_of(doc):
            labels.pop("helm.sh/chart", None)
            labels.pop("app.kubernetes.io/managed-by", None)
    header = (
        "# Burgee as plain manifests: three nodes in namespace `burgee`. Generated from\n"
        "# packaging/helm/burgee by `packaging/helm/check.py manifests`; do not edit by hand.\n"
        "# Make the cluster secret first (docs/operations.md):\n"
        "#   kubectl -n burgee create secret generic burgee-cluster \\\n"
        "#     --from-literal=cluster-secret=\"$(openssl rand -hex 24)\"\n"
    )
    return header + yaml.safe_dump_all(docs, sort_keys=False)


def labels_of(doc):
    found = []
    if "labels" in doc.get("metadata", {}):
        found.append(doc["metadata"]["labels"])
    template = doc.get("spec", {}).get("template", {})
    if "labels" in template.get("metadata", {}):
        found.append(template["metadata"]["labels"])
    return found


def main(argv):
    command = argv[1] if len(argv) > 1 else "check"
    if command == "render":
        values = {} if len(argv) < 3 or argv[2] == "-" else json.loads(argv[2])
        json.dump(render(values), sys.stdout)
        return 0
    if command == "manifests":
        MANIFESTS.write_text(default_manifests())
        return 0
    if command != "check":
        print(__doc__, file=sys.stderr)
        return 2
    failures = Failures()
    lint(failures)
    check_promises(failures)
    if MANIFESTS.read_text() != default_manifests():
        failures.expect(False, f"{MANIFESTS} is not the chart's rendering: run check.py manifests")
    check_kustomize(failures)
    for message in failures.messages:
        print(f"FAIL: {message}", file=sys.stderr)
    if failures.messages:
        return 1
    print("chart: lint clean, rendered and validated in 3 configurations, 6 bad values refused; kustomize base valid")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
