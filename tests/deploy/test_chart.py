"""The Helm chart deploy/helm/streamer, rendered by streamer.export.helm (no helm binary is
packaged here) with its defaults and with every option on, then checked with
kubernetes-validate --strict and, for the prometheus-operator CRDs (no schema is bundled with
kubernetes-validate), structurally and with promtool."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from streamer.export.helm import manifest, objects

ROOT = Path(__file__).parents[2]
CHART = ROOT / "deploy/helm/streamer"
DEFAULTS = yaml.safe_load((CHART / "values.yaml").read_text())

WEB_CONFIG = """\
tls_server_config:
  cert_file: /etc/streamer/tls/tls.crt
  key_file: /etc/streamer/tls/tls.key
basic_auth_users:
  prometheus: $2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG
"""


def everything_on() -> dict:
    values = copy.deepcopy(DEFAULTS)
    values["kafka"].update(
        securityProtocol="SASL_SSL", caSecret="kafka-ca", sasl={"mechanism": "PLAIN"}
    )
    values["kafka"]["sasl"]["existingSecret"] = "kafka-user"
    values["web"] = {"config": WEB_CONFIG, "tls": True, "tlsSecret": "streamer-tls"}
    values["serviceMonitor"]["basicAuthSecret"] = "streamer-scrape"
    values["serviceMonitor"]["tlsConfig"] = {
        "ca": {"secret": {"name": "streamer-ca", "key": "ca.crt"}},
        "serverName": "streamer",
    }
    values["publicUrl"] = "https://streamer.example.com"
    values["dashboardUrl"] = "https://grafana.example.com"
    values["extraEnv"] = [{"name": "STREAMER_MAX_SERIES", "value": "20000"}]
    values["rules"] = "rules: []\n"
    values["image"]["tag"] = "1.2.3"
    return values


def render(values: dict, release: str = "cx") -> str:
    return manifest(CHART, values, release)


def by_kind(text: str) -> dict[str, dict]:
    """One object per kind: not for ConfigMap and Service, of which the chart renders two."""
    return {
        doc["kind"]: doc for doc in objects(text) if doc["kind"] not in {"ConfigMap", "Service"}
    }


def services(text: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in objects(text) if doc["kind"] == "Service"}


def selects(selector: dict, labels: dict) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions) against labels."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for term in selector.get("matchExpressions", []):
        key, operator, values = term["key"], term["operator"], term.get("values", [])
        if not {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]:
            return False
    return True


def env_of(workload: dict) -> dict[str, dict]:
    return {e["name"]: e for e in workload["spec"]["template"]["spec"]["containers"][0]["env"]}


def validate(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "rendered.yaml"
    path.write_text(text)
    return subprocess.run(
        [str(Path(sys.executable).parent / "kubernetes-validate"), "--strict", str(path)],
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize("values", [DEFAULTS, everything_on()], ids=["defaults", "all-options"])
def test_rendered_chart_passes_kubernetes_validate_strict(values, tmp_path):
    checked = validate(render(values), tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    passed = {
        line.split("resource ")[1].split()[0]
        for line in checked.stdout.splitlines()
        if "passed" in line
    }
    assert {"statefulset/cx", "service/cx", "service/cx-headless", "configmap/cx-rules"} <= passed


def test_the_plain_manifest_is_the_chart_with_its_defaults():
    shipped = (ROOT / "deploy/kubernetes/streamer.yaml").read_text()
    assert objects(shipped) == objects(render(DEFAULTS, "streamer"))


@pytest.mark.parametrize("values", [DEFAULTS, everything_on()], ids=["defaults", "all-options"])
def test_the_workers_are_a_stateful_set_governed_by_a_headless_service_of_the_chart(values):
    """Stable pod names (<release>-0, -1, ...), for static membership; the governing Service
    must exist and select the pods. The state is restored from Kafka: scratch volumes only."""
    text = render(values)
    kinds = [doc["kind"] for doc in objects(text)]
    assert "Deployment" not in kinds and kinds.count("StatefulSet") == 1
    workers = by_kind(text)["StatefulSet"]
    spec = workers["spec"]
    assert workers["metadata"]["name"] == "cx"
    assert spec["podManagementPolicy"] == "Parallel"
    assert spec["updateStrategy"]["type"] == "RollingUpdate"
    governing = services(text)[spec["serviceName"]]
    assert governing["spec"]["clusterIP"] == "None"
    pod_labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= pod_labels.items()
    assert governing["spec"]["selector"].items() <= pod_labels.items()
    assert "volumeClaimTemplates" not in spec
    volumes = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
    assert volumes["data"] == {"name": "data", "emptyDir": {}}
    assert volumes["tmp"] == {"name": "tmp", "emptyDir": {}}


@pytest.mark.parametrize("values", [DEFAULTS, everything_on()], ids=["defaults", "all-options"])
def test_each_worker_joins_with_its_pod_name_as_static_membership_id(values):
    env = env_of(by_kind(render(values))["StatefulSet"])
    assert env["STREAMER_INSTANCE_ID"] == {
        "name": "STREAMER_INSTANCE_ID",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
    }
    # a worker back within its session keeps its partitions: longer than a restart takes
    assert env["STREAMER_SESSION_TIMEOUT_S"]["value"] == "30"
    assert env["STREAMER_APP_ID"]["value"] == "streamer"  # the group the ids are unique in


def test_static_membership_can_be_turned_off_and_the_session_timeout_set():
    values = copy.deepcopy(DEFAULTS)
    values.update(staticMembership=False, sessionTimeoutSeconds=45)
    workers = by_kind(render(values))["StatefulSet"]
    env = env_of(workers)
    assert "STREAMER_INSTANCE_ID" not in env
    assert env["STREAMER_SESSION_TIMEOUT_S"]["value"] == "45"
    # A stop's last commit waits up to the session timeout: Kubernetes must not kill it first.
    assert workers["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 75


def test_pods_run_non_root_read_only_without_capabilities():
    workers = by_kind(render(DEFAULTS))["StatefulSet"]
    pod = workers["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert all(isinstance(pod["securityContext"][k], int) for k in ("runAsUser", "runAsGroup"))
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    writable = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/tmp", "/var/lib/streamer"} <= writable
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["STREAMER_DATA_DIR"] == "/var/lib/streamer"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    # No STREAMER_* variables from the namespace's Services: the worker refuses names it does
    # not know, and would misread STREAMER_WEB_PORT=tcp://... from a Service "streamer-web".
    assert pod["enableServiceLinks"] is False


def test_image_defaults_to_the_chart_app_version_never_latest():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    image = by_kind(render(DEFAULTS))["StatefulSet"]["spec"]["template"]["spec"]["containers"][0]
    assert image["image"] == f"streamer:{chart['appVersion']}"
    tagged = by_kind(render(everything_on()))["StatefulSet"]["spec"]["template"]["spec"]
    assert tagged["containers"][0]["image"] == "streamer:1.2.3"


def test_the_rules_config_map_is_mounted_and_a_change_rolls_the_pods():
    default = objects(render(DEFAULTS))
    rules = next(d for d in default if d["metadata"]["name"] == "cx-rules")
    assert rules["data"]["rules.yaml"] == (ROOT / "deploy/rules.example.yaml").read_text().strip()
    workers = next(d for d in default if d["kind"] == "StatefulSet")
    volume = workers["spec"]["template"]["spec"]["volumes"][0]
    assert volume["configMap"]["name"] == "cx-rules"

    def checksum(values: dict) -> str:
        pod = by_kind(render(values))["StatefulSet"]["spec"]["template"]
        return pod["metadata"]["annotations"]["checksum/rules"]

    edited = copy.deepcopy(DEFAULTS)
    edited["rules"] = "rules: []\n"
    assert checksum(edited) != checksum(DEFAULTS)


def test_pod_disruption_budget_selects_the_workers():
    rendered = by_kind(render(DEFAULTS))
    pdb = rendered["PodDisruptionBudget"]
    pod_labels = rendered["StatefulSet"]["spec"]["template"]["metadata"]["labels"]
    assert selects(pdb["spec"]["selector"], pod_labels)
    # Unready while Kafka is down, yet evictable: a broker outage must not block node drains.
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    off = copy.deepcopy(DEFAULTS)
    off["podDisruptionBudget"]["enabled"] = False
    assert "PodDisruptionBudget" not in by_kind(render(off))


def test_service_monitor_is_found_by_kube_prometheus_stack_and_scrapes_each_worker_once():
    text = render(DEFAULTS)
    rendered = by_kind(text)
    monitor = rendered["ServiceMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    scraped = [
        s
        for s in services(text).values()
        if selects(monitor["spec"]["selector"], s["metadata"]["labels"])
    ]
    assert [s["metadata"]["name"] for s in scraped] == ["cx"]  # not the headless one as well
    service = scraped[0]
    assert service["spec"].get("clusterIP") != "None"
    pod_labels = rendered["StatefulSet"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    endpoint = monitor["spec"]["endpoints"][0]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert (endpoint["path"], endpoint["scheme"]) == ("/metrics", "http")
    assert "basicAuth" not in endpoint


def test_web_auth_is_a_secret_the_workers_read_and_the_service_monitor_answers():
    rendered = objects(render(everything_on()))
    secret = next(d for d in rendered if d["kind"] == "Secret")
    assert yaml.safe_load(secret["stringData"]["web.yml"]) == yaml.safe_load(WEB_CONFIG)
    pod = next(d for d in rendered if d["kind"] == "StatefulSet")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    mounted = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert env["STREAMER_WEB_CONFIG_FILE"]["value"] == f"{mounted['web']}/web.yml"
    web_volume = next(v for v in pod["volumes"] if v["name"] == "web")
    assert web_volume["secret"]["secretName"] == secret["metadata"]["name"]
    assert container["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"  # /readyz stays open
    assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "kafka-user",
        "key": "password",
    }
    assert env["STREAMER_PUBLIC_URL"]["value"] == "https://streamer.example.com"
    # alert links open this deployment (the release's Service is its Prometheus job)
    assert env["STREAMER_DASHBOARD_URL"]["value"] == (
        "https://grafana.example.com?var-namespace=default&var-job=cx"
    )
    assert env["STREAMER_MAX_SERIES"]["value"] == "20000"
    endpoint = next(d for d in rendered if d["kind"] == "ServiceMonitor")["spec"]["endpoints"][0]
    assert endpoint["scheme"] == "https"
    assert endpoint["basicAuth"]["password"] == {"name": "streamer-scrape", "key": "password"}


def test_https_workers_read_their_certificate_from_a_secret_and_prometheus_checks_it():
    """With web.tls the pods crash-looped: the web config named files no value could mount."""
    rendered = objects(render(everything_on()))
    pod = next(d for d in rendered if d["kind"] == "StatefulSet")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    mounted = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    tls = yaml.safe_load(WEB_CONFIG)["tls_server_config"]
    for path in (tls["cert_file"], tls["key_file"]):
        assert path.rsplit("/", 1)[0] == mounted["web-tls"]
    tls_volume = next(v for v in pod["volumes"] if v["name"] == "web-tls")
    assert tls_volume["secret"]["secretName"] == "streamer-tls"
    endpoint = next(d for d in rendered if d["kind"] == "ServiceMonitor")["spec"]["endpoints"][0]
    assert endpoint["tlsConfig"]["ca"]["secret"] == {"name": "streamer-ca", "key": "ca.crt"}


@pytest.mark.parametrize(
    ("name", "shipped"),
    [("cx", "recording_rules.yml"), ("cx-health", "health_rules.yml")],
)
def test_prometheus_rules_hold_the_recording_and_health_rules_and_pass_promtool(
    name, shipped, tmp_path
):
    rule = {
        d["metadata"]["name"]: d for d in objects(render(DEFAULTS)) if d["kind"] == "PrometheusRule"
    }[name]
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["spec"] == yaml.safe_load((ROOT / "deploy/prometheus" / shipped).read_text())
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rule["spec"]))
    checked = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_dashboard_config_map_carries_the_sidecar_label_and_the_dashboard():
    maps = [d for d in objects(render(DEFAULTS)) if d["kind"] == "ConfigMap"]
    board = next(d for d in maps if d["metadata"]["name"] == "cx-dashboard")
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads((ROOT / "deploy/grafana/dashboards/streamer.json").read_text())
    assert json.loads(board["data"]["streamer.json"]) == shipped


def test_a_dashboard_for_other_windows_can_replace_the_shipped_one():
    """The shipped dashboard offers the default windows only: a deployment with others gives
    the chart its own (`streamer dashboard`)."""
    from streamer.export.dashboard import dashboard

    values = copy.deepcopy(DEFAULTS)
    values["grafanaDashboard"]["json"] = json.dumps(dashboard(windows=["15m", "1d", "365d"]))
    maps = [d for d in objects(render(values)) if d["kind"] == "ConfigMap"]
    board = json.loads(
        next(d for d in maps if d["metadata"]["name"] == "cx-dashboard")["data"]["streamer.json"]
    )
    window = next(v for v in board["templating"]["list"] if v["name"] == "window")
    assert window["query"] == "15m,1d,365d"
