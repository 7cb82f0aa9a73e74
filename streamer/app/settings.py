"""Worker settings from the environment (documented in the README with their defaults)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamer.core.events import Limits
from streamer.core.scales import CSAT_5, CesPolicy, CsatPolicy, Scale, Scoring
from streamer.core.series import Breakdown, parse_breakdowns
from streamer.core.window import Timeline


class KafkaSettings(BaseSettings):
    """Connection to Kafka: the local broker by default, any Apache Kafka cluster in production."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap: str = "127.0.0.1:9092"
    security_protocol: str = Field("PLAINTEXT", pattern="^(PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL)$")
    sasl_mechanism: str = "PLAIN"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None

    def hosts(self) -> list[str]:
        return [host.strip() for host in self.bootstrap.split(",") if host.strip()]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STREAMER_", extra="ignore")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    app_id: str = "streamer"
    input_topic: str = "cx.survey-responses"
    dlq_topic: str = "cx.survey-responses.dlq"
    alerts_topic: str = Field("cx.alerts", description="alert transitions as JSON; empty: off")
    detractors_topic: str = Field(
        "cx.detractors", description="unhappy answers for follow-up; empty: off"
    )
    alertmanager_url: str | None = Field(
        None, description="Alertmanager base URLs, comma-separated: each gets every alert"
    )
    alert_webhook_url: str | None = None
    alert_resend_s: float = Field(60.0, gt=0)
    alert_queue_max: int = Field(10_000, ge=1, description="alerts waiting per receiver, at most")
    public_url: str | None = Field(None, description="how people reach this worker (alert links)")
    partitions: int = Field(8, ge=1, description="partitions of topics the worker creates")
    windows: str = "5m,1h,24h,7d"
    bucket: str = "1m"
    grace: str = "10m"
    dimensions: str = ""
    max_series: int = Field(10_000, ge=1)
    rules: str | None = None
    ces_scale: str = Field("1-7", description="1-7 (agree 5-7) or 1-5 (low effort is good, 1-2)")
    csat_satisfied_from: str = "1-5:4,1-7:6,1-10:9"
    max_event_bytes: int = Field(65_536, ge=256)
    dlq_value_max_bytes: int = Field(4_096, ge=0)
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    batch_max: int = Field(5_000, ge=1)
    fetch_max_wait_ms: int = Field(100, ge=1, le=30_000)
    tick_s: float = Field(1.0, gt=0)
    session_timeout_s: float = 10.0
    data_dir: str = ".run/worker-data"

    @field_validator("windows", "bucket", "grace", "dimensions", "ces_scale", "csat_satisfied_from")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    def alertmanager_urls(self) -> list[str]:
        urls = [url.strip() for url in (self.alertmanager_url or "").split(",") if url.strip()]
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"STREAMER_ALERTMANAGER_URL: not an http(s) URL: {url!r}")
        return urls

    def timeline(self) -> Timeline:
        return Timeline.parse(self.bucket, self.windows, self.grace)

    def breakdowns(self) -> tuple[Breakdown, ...]:
        return parse_breakdowns(self.dimensions)

    def scoring(self) -> Scoring:
        pairs = []
        for part in self.csat_satisfied_from.split(","):
            scale, _, threshold = part.partition(":")
            pairs.append((Scale.parse(scale.strip()), int(threshold)))
        default = CSAT_5 if any(s == CSAT_5 for s, _ in pairs) else pairs[0][0]
        csat = CsatPolicy(tuple(pairs), default)
        if self.ces_scale == "1-7":
            ces = CesPolicy()
        elif self.ces_scale == "1-5":
            ces = CesPolicy.low_effort_is_good()
        else:
            raise ValueError(f"STREAMER_CES_SCALE must be 1-7 or 1-5, got {self.ces_scale!r}")
        return Scoring(csat, ces)

    def base_url(self) -> str:
        return (self.public_url or f"http://{self.web_host}:{self.web_port}").rstrip("/")

    def limits(self) -> Limits:
        return Limits(max_bytes=self.max_event_bytes)

    def validate_all(self) -> None:
        """Fail at start with a clear message rather than at the first event."""
        self.timeline()
        self.breakdowns()
        self.scoring()
        self.alertmanager_urls()
