"""aiokafka options from the KAFKA_* settings."""

from streamer.kafka.options import client_options
from streamer.kafka.settings import KafkaSettings


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
    assert "s3cret" not in repr(kafka)


def test_plaintext_needs_no_options():
    assert client_options(KafkaSettings()) == {"security_protocol": "PLAINTEXT"}
