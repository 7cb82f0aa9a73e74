import socket

import pytest

from streamer.app.config import data_dir
from streamer.app.settings import Settings, SettingsError, load_settings
from streamer.core.scales import CES_5, CSAT_7, Scale
from streamer.kafka.settings import KafkaSettings


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "k1:9092, k2:9092")
    monkeypatch.setenv("STREAMER_WINDOWS", "10m,2h")
    monkeypatch.setenv("STREAMER_DIMENSIONS", "channel,channel+queue")
    monkeypatch.setenv("STREAMER_CES_SCALE", "1-5")
    monkeypatch.setenv("STREAMER_CSAT_SATISFIED_FROM", "1-7:6,1-10:9")
    monkeypatch.setenv("STREAMER_ALERTMANAGER_URL", "http://am-a:9093, http://am-b:9093/")
    monkeypatch.setenv("STREAMER_INSTANCE_ID", "streamer-0")
    settings = Settings()
    assert settings.instance_id == "streamer-0"
    assert settings.alertmanager_urls() == ["http://am-a:9093", "http://am-b:9093/"]
    assert settings.kafka.hosts() == ["k1:9092", "k2:9092"]
    assert [w.label for w in settings.timeline().windows] == ["10m", "2h"]
    assert settings.breakdowns() == (("channel",), ("channel", "queue"))
    scoring = settings.scoring()
    assert scoring.ces.scale == CES_5 and not scoring.ces.higher_is_easier
    assert scoring.csat.threshold(CSAT_7) == 6 and scoring.csat.threshold(Scale(1, 5)) is None


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("STREAMER_WINDOWS", "5x", "expected a duration like 5m, got '5x'"),
        ("STREAMER_WINDOWS", "90s", "window 90s is not a whole number of 1m buckets"),
        ("STREAMER_WINDOWS", "5m,5m", "window labels repeat"),
        ("STREAMER_BUCKET", "0m", "expected a duration like 5m, got '0m'"),
        ("STREAMER_GRACE", "soon", "expected a duration like 5m, got 'soon'"),
        ("STREAMER_CES_SCALE", "0-10", "expected 1-7 or 1-5, got '0-10'"),
        ("STREAMER_CSAT_SATISFIED_FROM", "1-5", "expected scale:lowest-satisfied pairs"),
        ("STREAMER_CSAT_SATISFIED_FROM", "1-5:9", "CSAT satisfied-from 9 is outside the scale"),
        ("STREAMER_DIMENSIONS", "comment", "unknown dimension 'comment'"),
        ("STREAMER_SESSION_TIMEOUT_S", "-3", "greater than 0"),
        ("STREAMER_MIN_INSYNC_REPLICAS", "2", "2 is above STREAMER_REPLICATION_FACTOR (1)"),
        ("STREAMER_TICK_S", "0", "greater than or equal to 0.05"),
        ("STREAMER_WEB_PORT", "0", "greater than or equal to 1"),
        ("STREAMER_WEB_PORT", "65536", "less than or equal to 65535"),
        ("STREAMER_PARTITIONS", "many", "valid integer"),
        ("STREAMER_INPUT_TOPIC", "survey answers", "expected a Kafka topic name"),
        ("STREAMER_ALERTS_TOPIC", "alerts!", "expected a Kafka topic name"),
        ("STREAMER_ALERTMANAGER_URL", "alertmanager:9093", "expected an http:// or https:// URL"),
        ("STREAMER_LOG_LEVEL", "verbose", "'debug', 'info', 'warning' or 'error'"),
        ("STREAMER_LOG_FORMAT", "xml", "'text' or 'json'"),
        ("STREAMER_WEB_CONFIG_FILE", "/nonexistent/web.yml", "cannot read /nonexistent/web.yml"),
        ("KAFKA_SECURITY_PROTOCOL", "TLS", "'PLAINTEXT', 'SSL', 'SASL_PLAINTEXT' or 'SASL_SSL'"),
        ("STREAMER_ALERTMANAGER_URL", "http://am-a:9093,am-b:9093", "expected an http"),
        ("STREAMER_DASHBOARD_URL", "grafana:3000", "expected an http:// or https:// URL"),
        ("STREAMER_BUCKET", "7m", "the bucket size 7m does not divide an hour"),
        ("STREAMER_CSAT_SATISFIED_FROM", "1-5:4,1-5:3", "CSAT scale 1-5 is listed twice"),
    ],
)
def test_a_bad_setting_is_refused_under_its_variable(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    [problem] = refused.value.problems
    assert problem.startswith(f"{name}: ") and message in problem


def test_every_problem_is_listed_at_once(monkeypatch):
    monkeypatch.setenv("STREAMER_WINDOWS", "5x")
    monkeypatch.setenv("STREAMER_SESSION_TIMEOUT_S", "-3")
    monkeypatch.setenv("STREAMER_DIMENSIONS", "comment")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "MAGIC")
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert [p.split(":")[0] for p in refused.value.problems] == [
        "KAFKA_SASL_MECHANISM",
        "STREAMER_WINDOWS",
        "STREAMER_DIMENSIONS",
        "STREAMER_SESSION_TIMEOUT_S",
    ]
    assert "STREAMER_WINDOWS: expected a duration like 5m, got '5x'" in refused.value.problems


def test_command_line_options_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("STREAMER_LOG_LEVEL", "ERROR")
    assert load_settings().log_level == "error"
    assert load_settings(log_level="debug").log_level == "debug"


def test_alert_links_name_the_machine_when_the_worker_binds_every_address():
    assert Settings(web_host="0.0.0.0").base_url() == f"http://{socket.gethostname()}:6066"
    assert Settings(web_host="10.1.2.3", web_port=80).base_url() == "http://10.1.2.3:80"
    assert Settings(web_host="::1").base_url() == "http://[::1]:6066"
    chosen = Settings(web_host="0.0.0.0", public_url="https://cx.example.com/streamer/")
    assert chosen.base_url() == "https://cx.example.com/streamer"
    # Workers behind one address: each its own path (or host), by its instance id.
    pod = Settings(public_url="https://cx.example.com/{instance}/", instance_id="cx-streamer-1")
    assert pod.base_url() == "https://cx.example.com/cx-streamer-1"


def test_a_link_per_instance_needs_the_instance_id(monkeypatch):
    monkeypatch.setenv("STREAMER_PUBLIC_URL", "https://cx.example.com/{instance}")
    monkeypatch.delenv("STREAMER_INSTANCE_ID", raising=False)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert refused.value.problems == [
        "STREAMER_INSTANCE_ID: STREAMER_PUBLIC_URL has {instance}, which this names: set it"
    ]


def test_the_data_directory_is_absolute_wherever_the_worker_starts(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STREAMER_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert Settings().data_path() == tmp_path / "state" / "streamer"
    assert Settings(data_dir="data/worker").data_path() == tmp_path / "data" / "worker"
    created = data_dir(Settings(data_dir="deep/er/dir"))
    assert created.is_dir() and created.is_absolute()


def test_a_data_directory_that_cannot_be_made_is_refused(tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(SettingsError) as refused:
        data_dir(Settings(data_dir=str(tmp_path / "a-file" / "data")))
    assert refused.value.problems == [
        f"STREAMER_DATA_DIR: cannot create {tmp_path / 'a-file' / 'data'}: Not a directory"
    ]


def test_the_kafka_password_stays_out_of_the_settings_text():
    kafka = KafkaSettings(security_protocol="SASL_SSL", sasl_password="s3cret")
    settings = Settings(kafka=kafka)
    assert "s3cret" not in str(settings) and "s3cret" not in repr(settings)


def test_a_misspelled_setting_is_refused_with_the_one_meant(monkeypatch):
    """pydantic-settings ignores names it does not know: a typo would leave the default in
    force, silently."""
    monkeypatch.setenv("STREAMER_WINDOW", "90d")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    # Another program's KAFKA_* and the variables Kubernetes sets for a Service are not ours.
    monkeypatch.setenv("KAFKA_HEAP_OPTS", "-Xmx1g")
    monkeypatch.setenv("STREAMER_DB_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("STREAMER_DB_PORT_5432_TCP", "tcp://10.0.0.1:5432")
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert refused.value.problems == [
        "KAFKA_BOOTSTRAP_SERVERS: not a setting, so it would be ignored: did you mean "
        "KAFKA_BOOTSTRAP?",
        "STREAMER_WINDOW: not a setting, so it would be ignored: did you mean STREAMER_WINDOWS?",
    ]
