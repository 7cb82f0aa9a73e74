"""The deployment files, checked with each ecosystem's own tools: promtool, amtool, the
compose-spec JSON schema, kubernetes-validate, hadolint (there is no Docker engine, cluster or
helm binary here)."""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

from streamer.export import generate

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent
PROMETHEUS = ROOT / "deploy/prometheus"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=ROOT)


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def rule_files(path: Path) -> list[dict]:
    return [rule for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]


def test_shipped_files_are_what_the_generator_writes():
    assert generate.stale() == [], f"regenerate with: {generate.COMMAND}"


def test_compose_file_is_valid_against_the_compose_spec_schema():
    schema = json.loads((ROOT / "tests/data/compose-spec/compose-spec.json").read_text())
    errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(compose())]
    assert errors == []


def workers(services):
    return {name: s for name, s in services.items() if s.get("command") == ["worker"]}


def test_compose_has_the_production_like_services():
    services = compose()["services"]
    assert set(services) == {
        "kafka",
        "streamer-1",
        "streamer-2",
        "simulator",
        "prometheus",
        "alertmanager",
        "grafana",
    }
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    assert set(workers(services)) == {"streamer-1", "streamer-2"}
    for worker in workers(services).values():
        assert worker["environment"]["KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert worker["image"] == services["simulator"]["image"]
    assert (ROOT / services["streamer-1"]["build"]["dockerfile"]).is_file()
    assert not any(s.get("image", "").endswith(":latest") for s in services.values())


def test_each_compose_worker_has_its_own_member_id_and_an_alert_link_that_reaches_it():
    """Static membership needs an id per worker that survives its restarts; an alert's link must
    open the worker that raised it (each shows only its partitions' series)."""
    found = workers(compose()["services"])
    ids = [w["environment"]["STREAMER_INSTANCE_ID"] for w in found.values()]
    assert len(set(ids)) == len(found)
    for worker in found.values():
        [mapping] = worker["ports"]
        host_port, container_port = mapping.split(":")
        assert worker["environment"]["STREAMER_PUBLIC_URL"] == f"http://localhost:{host_port}"
        assert container_port == "6066"


def test_prometheus_scrapes_every_compose_worker():
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "streamer"]
    targets = {t for c in job["static_configs"] for t in c["targets"]}
    assert targets == {f"{name}:6066" for name in workers(compose()["services"])}


def test_kafka_keeps_its_log_on_the_named_volume():
    kafka = compose()["services"]["kafka"]
    mounts = dict(v.split(":")[:2] for v in kafka["volumes"])
    assert mounts["kafka-data"] == kafka["environment"]["KAFKA_LOG_DIRS"]


def test_the_simulator_does_not_inherit_the_worker_healthcheck():
    assert compose()["services"]["simulator"]["healthcheck"] == {"disable": True}


def test_compose_pages_once_the_workers_page_and_prometheus_loads_no_cx_alert_rules():
    """The CX alerts come from the workers; Prometheus adds only those on the workers' own
    health (a CX rule in both would page twice)."""
    services = compose()
    for worker in workers(services["services"]).values():
        assert worker["environment"]["STREAMER_ALERTMANAGER_URL"]
    mounted = {
        v.split(":")[1]: ROOT / v.split(":")[0]
        for v in services["services"]["prometheus"]["volumes"]
        if v.startswith("./")
    }
    config = yaml.safe_load(mounted["/etc/prometheus/prometheus.yml"].read_text())
    loaded = [rule for path in config["rule_files"] for rule in rule_files(mounted[path])]
    health = {rule["alert"] for rule in rule_files(PROMETHEUS / "health_rules.yml")}
    assert any("record" in rule for rule in loaded)
    assert {rule["alert"] for rule in loaded if "alert" in rule} == health


def test_every_file_compose_mounts_exists_and_named_volumes_are_declared():
    spec = compose()
    for name, service in spec["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in spec["volumes"], f"{name} uses undeclared volume {source}"


def test_prometheus_config_passes_promtool_with_the_files_compose_mounts(tmp_path):
    mounts = {
        v.split(":")[1]: str(ROOT / v.split(":")[0])
        for v in compose()["services"]["prometheus"]["volumes"]
        if v.startswith("./")
    }
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    config["rule_files"] = [mounts[path] for path in config["rule_files"]]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    checked = run("promtool", "check", "config", path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_recording_and_alerting_rules_pass_promtool():
    checked = run(
        "promtool",
        "check",
        "rules",
        PROMETHEUS / "recording_rules.yml",
        PROMETHEUS / "alerts.yml",
        PROMETHEUS / "health_rules.yml",
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_recording_and_alert_rule_has_a_promtool_unit_test():
    tests = ROOT / "tests/data/promtool"
    checked = run("promtool", "test", "rules", *sorted(tests.glob("*_test.yml")))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = "".join(path.read_text() for path in tests.glob("*_test.yml"))
    for rule in rule_files(PROMETHEUS / "recording_rules.yml"):
        assert f"expr: {rule['record']}\n" in tested, f"no promtool test for {rule['record']}"
    for path in ("alerts.yml", "health_rules.yml"):
        for rule in rule_files(PROMETHEUS / path):
            assert f"alertname: {rule['alert']}\n" in tested, f"no promtool test: {rule['alert']}"


def test_every_health_alert_links_to_its_section_of_the_operations_guide():
    guide = (ROOT / "docs/operations.md").read_text()
    sections = {
        re.sub(r"[^a-z0-9 -]", "", line[4:].strip().lower()).replace(" ", "-")
        for line in guide.splitlines()
        if line.startswith("### ")
    }
    for rule in rule_files(PROMETHEUS / "health_rules.yml"):
        page, _, section = rule["annotations"]["runbook"].partition("#")
        assert page == "docs/operations.md" and section in sections, rule["alert"]


def test_alertmanager_config_passes_amtool():
    checked = run("amtool", "check-config", ROOT / "deploy/alertmanager/alertmanager.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_shipped_inhibition_silences_only_tickets_of_the_same_score_and_series(tmp_path):
    """Run by Alertmanager itself: an NPS page on checkout/chat silenced every ticket of
    checkout, CSAT's and other channels' among them; then a worker's health page silenced every
    health ticket."""
    import urllib.request

    from tests.integration.harness import start_alertmanager, wait_until

    config = (ROOT / "deploy/alertmanager/alertmanager.yml").read_text()
    alertmanager = start_alertmanager(tmp_path, config_text=config)

    def alert(name, severity, score, **dimensions):
        labels = {"touchpoint": "checkout", "score": score, "window": "1h", **dimensions}
        return {"labels": {"alertname": name, "severity": severity, **labels}}

    sent = [
        alert("NpsDrop", "page", "nps", channel="chat"),
        alert("NpsLow", "ticket", "nps", channel="chat"),  # the same score and series
        alert("CsatLow", "ticket", "csat", channel="chat"),
        alert("NpsLowVoice", "ticket", "nps", channel="voice"),
        alert("NpsLowTouchpoint", "ticket", "nps"),
        # the workers' own health: a page there silences no ticket
        {"labels": {"alertname": "StreamerWorkerDown", "severity": "page", "instance": "w1"}},
        {"labels": {"alertname": "StreamerDeadLetters", "severity": "ticket", "instance": "w2"}},
    ]
    try:
        request = urllib.request.Request(
            alertmanager.base + "/api/v2/alerts",
            data=json.dumps(sent).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=5).close()

        def inhibited():
            alerts = alertmanager.get_json("/api/v2/alerts") or []
            if len(alerts) < len(sent):
                return None
            return sorted(a["labels"]["alertname"] for a in alerts if a["status"]["inhibitedBy"])

        wait_until(lambda: inhibited() is not None, 30, "the alerts")
        wait_until(lambda: inhibited() == ["NpsLow"], 10, "the inhibition")
        assert inhibited() == ["NpsLow"]
    finally:
        alertmanager.stop()


def test_dockerfile_passes_hadolint():
    checked = run(BIN / "hadolint", ROOT / "deploy/Dockerfile")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_image_is_pinned_and_installs_locked_dependencies():
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", dockerfile, re.MULTILINE).group(1)
    assert re.search(r"@sha256:[0-9a-f]{64}$|:\d+\.\d+\.\d+-", base), f"unpinned base {base}"
    assert "pip install --require-hashes --no-deps -r requirements/image.txt" in dockerfile
    assert "--no-build-isolation" in dockerfile  # the build backend comes from the lock too
    uid = re.search(r"^USER (\d+):(\d+)$", dockerfile, re.MULTILINE)
    values = yaml.safe_load((ROOT / "deploy/helm/streamer/values.yaml").read_text())
    assert uid and int(uid.group(1)) == values["podSecurityContext"]["runAsUser"]
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") :][:1] == ["*"]  # an allow-list: .venv, .run, .git stay out


def test_the_image_lock_pins_every_dependency_with_hashes():
    """Fails when pyproject.toml's dependencies change without `make lock`."""
    lock = (ROOT / "requirements/image.txt").read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = [*project["project"]["dependencies"], *project["build-system"]["requires"]]
    pinned = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\\n    --hash=sha256:", lock, re.M))
    pinned = {name.lower().replace("_", "-"): version for name, version in pinned.items()}
    for requirement in wanted:
        name, _, version = re.split(r"(==|>=)", requirement)
        name = name.lower().replace("_", "-")
        assert name in pinned, f"{name} missing from requirements/image.txt: run make lock"
        if "==" in requirement:
            assert pinned[name] == version, f"{name} locked at {pinned[name]}: run make lock"


@pytest.fixture(scope="module")
def manifest() -> list[dict]:
    text = (ROOT / "deploy/kubernetes/streamer.yaml").read_text()
    return [doc for doc in yaml.safe_load_all(text) if doc]


def test_the_plain_manifest_passes_kubernetes_validate_strict():
    checked = run(BIN / "kubernetes-validate", "--strict", ROOT / "deploy/kubernetes/streamer.yaml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # ServiceMonitor and PrometheusRule are CRDs, without a bundled schema: the structural tests
    # below check them (fields, selectors, the rules through promtool).
    assert "failed" not in checked.stdout.lower()


def test_grafana_provisioning_points_at_the_dashboard_and_datasource():
    datasource = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    uid = datasource["datasources"][0]["uid"]
    shipped = json.loads((ROOT / "deploy/grafana/dashboards/streamer.json").read_text())
    variable = next(v for v in shipped["templating"]["list"] if v["type"] == "datasource")
    assert variable["current"]["value"] == uid
    panels = [p for p in shipped["panels"] if p["type"] != "row"]
    assert all(p["datasource"]["uid"] == "${datasource}" for p in panels)
    assert all(t["expr"] for p in panels for t in p["targets"])
    assert shipped["annotations"]["list"][0]["expr"] == (
        'ALERTS{alertstate="firing",namespace=~"$namespace",job="$job"}'
    )
