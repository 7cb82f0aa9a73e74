"""The deployment files, checked by parsing (no Docker engine or cluster here) and promtool."""

import json
import subprocess
from pathlib import Path

import yaml

from tests.cli import streamer

ROOT = Path(__file__).parents[2]


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_production_like_services():
    services = compose()["services"]
    assert set(services) == {
        "kafka",
        "streamer",
        "simulator",
        "prometheus",
        "alertmanager",
        "grafana",
    }
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    assert services["streamer"]["deploy"]["replicas"] == 2
    assert services["streamer"]["environment"]["KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert (ROOT / services["streamer"]["build"]["dockerfile"]).is_file()
    ports = {name: [p.split(":")[0] for p in s.get("ports", [])] for name, s in services.items()}
    assert (
        ports["grafana"] == ["3000"]
        and ports["prometheus"] == ["9090"]
        and ports["alertmanager"] == ["9093"]
    )


def test_every_file_compose_mounts_exists_and_named_volumes_are_declared():
    spec = compose()
    for name, service in spec["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in spec["volumes"], f"{name} uses undeclared volume {source}"


def test_prometheus_config_loads_the_mounted_rule_files():
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    mounted = {
        v.split(":")[1]
        for v in compose()["services"]["prometheus"]["volumes"]
        if v.startswith("./")
    }
    assert set(config["rule_files"]) <= mounted


def test_recording_and_alerting_rules_pass_promtool():
    files = [ROOT / "deploy/prometheus/recording_rules.yml", ROOT / "deploy/prometheus/alerts.yml"]
    checked = subprocess.run(
        ["promtool", "check", "rules", *map(str, files)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_shipped_prometheus_alerts_are_the_export_of_the_example_rules():
    exported = streamer("rules", "export", "--prometheus", "deploy/rules.example.yaml").stdout
    regenerate = (
        "streamer rules export --prometheus deploy/rules.example.yaml"
        " > deploy/prometheus/alerts.yml"
    )
    assert (ROOT / "deploy/prometheus/alerts.yml").read_text() == exported, (
        f"regenerate: {regenerate}"
    )


def test_grafana_provisioning_points_at_the_dashboard_and_datasource():
    datasource = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    uid = datasource["datasources"][0]["uid"]
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/streamer.json").read_text())
    assert dashboard["panels"] and all(p["datasource"]["uid"] == uid for p in dashboard["panels"])
    assert all(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    assert dashboard["annotations"]["list"][0]["expr"] == 'ALERTS{alertstate="firing"}'


def test_kubernetes_manifests():
    docs = list(yaml.safe_load_all((ROOT / "deploy/kubernetes/streamer.yaml").read_text()))
    assert [d["kind"] for d in docs] == ["Deployment", "Service", "ServiceMonitor"]
    container = docs[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert docs[2]["spec"]["endpoints"][0]["path"] == "/metrics"
