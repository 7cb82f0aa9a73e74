import pytest

from streamer.app.kafka import client_options
from streamer.app.settings import KafkaSettings, Settings
from streamer.core.scales import CES_5, CSAT_7, Scale


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "k1:9092, k2:9092")
    monkeypatch.setenv("STREAMER_WINDOWS", "10m,2h")
    monkeypatch.setenv("STREAMER_DIMENSIONS", "channel,channel+queue")
    monkeypatch.setenv("STREAMER_CES_SCALE", "1-5")
    monkeypatch.setenv("STREAMER_CSAT_SATISFIED_FROM", "1-7:6,1-10:9")
    monkeypatch.setenv("STREAMER_ALERTMANAGER_URL", "http://am-a:9093, http://am-b:9093/")
    settings = Settings()
    assert settings.alertmanager_urls() == ["http://am-a:9093", "http://am-b:9093/"]
    assert settings.kafka.hosts() == ["k1:9092", "k2:9092"]
    assert [w.label for w in settings.timeline().windows] == ["10m", "2h"]
    assert settings.breakdowns() == (("channel",), ("channel", "queue"))
    scoring = settings.scoring()
    assert scoring.ces.scale == CES_5 and not scoring.ces.higher_is_easier
    assert scoring.csat.threshold(CSAT_7) == 6 and scoring.csat.threshold(Scale(1, 5)) is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STREAMER_CES_SCALE", "0-10"),
        ("STREAMER_WINDOWS", "90s"),
        ("STREAMER_DIMENSIONS", "comment"),
        ("STREAMER_ALERTMANAGER_URL", "http://am-a:9093,am-b:9093"),  # no scheme
    ],
)
def test_bad_settings_fail_at_start(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError):
        Settings().validate_all()


def test_sasl_and_tls_options_pass_through_and_the_password_stays_hidden():
    kafka = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="svc",
        sasl_password="s3cret",
    )
    options = client_options(kafka)
    assert (
        options["security_protocol"] == "SASL_SSL" and options["sasl_mechanism"] == "SCRAM-SHA-512"
    )
    assert options["sasl_plain_username"] == "svc" and options["sasl_plain_password"] == "s3cret"
    assert options["ssl_context"] is not None
    assert "s3cret" not in repr(kafka) and "s3cret" not in str(Settings(kafka=kafka))


def test_plaintext_needs_no_options():
    assert client_options(KafkaSettings()) == {"security_protocol": "PLAINTEXT"}
