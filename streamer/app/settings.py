"""Worker settings from the environment (documented in the README with their defaults).

Every value is checked when the settings are read: ``load_settings`` reports every problem at
once, each under the environment variable that set it, and the texts that need parsing
(windows, bucket, grace, dimensions, scales) are parsed there, once.
"""

from __future__ import annotations

import difflib
import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamer.app.webconfig import WebConfig, WebConfigError, read_web_config
from streamer.core.durations import parse_duration_ms
from streamer.core.events import Limits
from streamer.core.scales import CesPolicy, CsatPolicy, Scoring
from streamer.core.series import Breakdown, parse_breakdowns
from streamer.core.timeline import DEFAULT_WINDOWS, Timeline, check_bucket_ms
from streamer.kafka.settings import KafkaSettings
from streamer.kafka.topics import is_topic_name

_WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["text", "json"]


class SettingsError(Exception):
    """Settings that cannot run a worker; ``problems`` has one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _state_home() -> Path:
    """Where a user's programs keep state (XDG base directories)."""
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")


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
    alert_resend_s: float = Field(60.0, ge=1, le=3_600)
    alert_queue_max: int = Field(10_000, ge=1, description="alerts waiting per receiver, at most")
    public_url: str | None = Field(
        None,
        description="how people reach this worker (alert links); {instance}: its instance id",
    )
    dashboard_url: str | None = Field(
        None, description="Grafana's base URL: alerts link to the dashboard of their series"
    )
    partitions: int = Field(8, ge=1, le=10_000, description="partitions of topics it creates")
    replication_factor: int = Field(
        1, ge=1, le=32, description="replicas of topics it creates (3 in production)"
    )
    min_insync_replicas: int = Field(
        1, ge=1, le=32, description="min.insync.replicas of topics it creates (2 in production)"
    )
    # bucket and grace come before windows: the windows' check needs them (validation order)
    bucket: str = "1m"
    grace: str = "10m"
    windows: str = DEFAULT_WINDOWS
    dedupe_horizon: str = Field("24h", description="how long a retried event id is recognised")
    commit_interval: str = Field("5s", description="how often state is persisted and committed")
    dimensions: str = ""
    max_series: int = Field(10_000, ge=1)
    rules: str | None = None
    ces_scale: str = Field("1-7", description="1-7 (agree 5-7) or 1-5 (low effort is good, 1-2)")
    csat_satisfied_from: str = "1-5:4,1-7:6,1-10:9"
    max_event_bytes: int = Field(65_536, ge=256, le=16_777_216)
    # At most 700,000: base64 makes it 933,336 bytes, under Kafka's default 1 MB record limit
    # with the dead letter's other fields.
    dlq_value_max_bytes: int = Field(4_096, ge=0, le=700_000)
    web_host: str = "127.0.0.1"
    web_port: int = Field(6066, ge=1, le=65_535)
    web_config_file: str | None = None
    batch_max: int = Field(5_000, ge=1, le=1_000_000)
    fetch_max_wait_ms: int = Field(100, ge=1, le=30_000)
    tick_s: float = Field(1.0, ge=0.05, le=60)
    # Kafka brokers refuse sessions outside group.{min,max}.session.timeout.ms (6 s..30 min by
    # default); the local broker takes shorter ones, which the tests use.
    session_timeout_s: float = Field(10.0, gt=0, le=1_800)
    # Faust's default: a cluster may be away that long before a record is given up (and the
    # worker stops: outbox.py).
    producer_timeout_s: float = Field(1_200.0, ge=1, le=86_400)
    instance_id: str | None = Field(
        None,
        description="the consumer's group.instance.id (static membership), unique per worker",
        validate_default=True,
    )
    data_dir: str | None = Field(None, description="default: $XDG_STATE_HOME/streamer")
    log_level: LogLevel = "info"
    log_format: LogFormat = "text"

    _timeline: Timeline = PrivateAttr()
    _breakdowns: tuple[Breakdown, ...] = PrivateAttr()
    _scoring: Scoring = PrivateAttr()
    _web_config: WebConfig = PrivateAttr()

    @field_validator("windows", "bucket", "grace", "dimensions", "ces_scale", "csat_satisfied_from")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("app_id", "input_topic", "dlq_topic", "alerts_topic", "detractors_topic")
    @classmethod
    def _topic_name(cls, value: str, info: ValidationInfo) -> str:
        """Topic names (the app id prefixes the changelogs'); an empty output is switched off."""
        off = not value and info.field_name in ("alerts_topic", "detractors_topic")
        if not off and not is_topic_name(value):
            raise ValueError(f"expected a Kafka topic name (letters, digits, . _ -), got {value!r}")
        return value

    @field_validator("alertmanager_url", "alert_webhook_url", "public_url", "dashboard_url")
    @classmethod
    def _http_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Only the Alertmanager URL takes a list (an HA pair gets every alert, as from Prometheus).
        several = info.field_name == "alertmanager_url"
        for url in _split(value) if several else ([value.strip()] if value else []):
            if not re.fullmatch(r"https?://[^\s/,]+(/[^\s,]*)?", url):
                raise ValueError(f"expected an http:// or https:// URL, got {url!r}")
        return value.strip() if value else value

    @field_validator("bucket", "grace", "dedupe_horizon", "commit_interval")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration_ms(value.strip())
        return value.strip()

    @field_validator("bucket")
    @classmethod
    def _bucket_fits(cls, value: str) -> str:
        check_bucket_ms(parse_duration_ms(value))
        return value

    @field_validator("windows")
    @classmethod
    def _timeline_fits(cls, value: str, info: ValidationInfo) -> str:
        if "bucket" in info.data and "grace" in info.data:
            _parse_timeline(info.data["bucket"], value, info.data["grace"])
        else:  # the bucket's own error is reported under its name; check what can be checked
            for part in value.split(","):
                if part.strip():
                    parse_duration_ms(part)
        return value

    @field_validator("min_insync_replicas")
    @classmethod
    def _insync_fits(cls, value: int, info: ValidationInfo) -> int:
        replicas = info.data.get("replication_factor")
        if replicas is not None and value > replicas:
            raise ValueError(
                f"{value} is above STREAMER_REPLICATION_FACTOR ({replicas}): "
                "no write with acks=all could ever succeed"
            )
        return value

    @field_validator("instance_id")
    @classmethod
    def _named_for_the_link(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value and "{instance}" in (info.data.get("public_url") or ""):
            raise ValueError("STREAMER_PUBLIC_URL has {instance}, which this names: set it")
        return value

    @field_validator("dimensions")
    @classmethod
    def _breakdowns_known(cls, value: str) -> str:
        parse_breakdowns(value)
        return value

    @field_validator("ces_scale")
    @classmethod
    def _ces_known(cls, value: str) -> str:
        CesPolicy.parse(value)
        return value

    @field_validator("csat_satisfied_from")
    @classmethod
    def _csat_known(cls, value: str) -> str:
        CsatPolicy.parse(value)
        return value

    @field_validator("web_config_file")
    @classmethod
    def _web_config_readable(cls, value: str | None) -> str | None:
        if value:
            read_web_config(Path(value))
        return value

    @model_validator(mode="after")
    def _parse(self) -> Settings:
        """The parsed forms, built once from texts the field validators have accepted."""
        self._timeline = _parse_timeline(self.bucket, self.windows, self.grace)
        self._breakdowns = parse_breakdowns(self.dimensions)
        self._scoring = Scoring(
            CsatPolicy.parse(self.csat_satisfied_from), CesPolicy.parse(self.ces_scale)
        )
        self._web_config = (
            read_web_config(Path(self.web_config_file)) if self.web_config_file else WebConfig()
        )
        return self

    def alertmanager_urls(self) -> list[str]:
        return _split(self.alertmanager_url)

    def timeline(self) -> Timeline:
        return self._timeline

    def dedupe_horizon_ms(self) -> int:
        return parse_duration_ms(self.dedupe_horizon)

    @property
    def commit_interval_s(self) -> float:
        return parse_duration_ms(self.commit_interval) / 1000

    def breakdowns(self) -> tuple[Breakdown, ...]:
        return self._breakdowns

    def scoring(self) -> Scoring:
        return self._scoring

    def web_config(self) -> WebConfig:
        return self._web_config

    def binds_everywhere(self) -> bool:
        return self.web_host.strip() in _WILDCARD_HOSTS

    def base_url(self) -> str:
        """How people reach this worker: STREAMER_PUBLIC_URL (``{instance}`` replaced by this
        worker's STREAMER_INSTANCE_ID: each worker shows its own partitions' series, so workers
        behind one address need one each), else the bind address, with the machine's name for
        a wildcard bind (``0.0.0.0`` is no address to click)."""
        if self.public_url:
            return self.public_url.rstrip("/").replace("{instance}", self.instance_id or "")
        scheme = "https" if self._web_config.ssl_context else "http"
        host = socket.gethostname() if self.binds_everywhere() else self.web_host
        return f"{scheme}://{f'[{host}]' if ':' in host else host}:{self.web_port}"

    def data_path(self) -> Path:
        """STREAMER_DATA_DIR as an absolute path, whatever directory the worker starts in."""
        chosen = Path(self.data_dir).expanduser() if self.data_dir else _state_home() / "streamer"
        return chosen.absolute()

    def limits(self) -> Limits:
        return Limits(max_bytes=self.max_event_bytes)


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _parse_timeline(bucket: str, windows: str, grace: str) -> Timeline:
    try:
        return Timeline.parse(bucket, windows, grace)
    except ValueError as error:
        if "buckets" in str(error):
            raise ValueError(f"{error} (STREAMER_BUCKET={bucket})") from None
        raise


NOT_SETTINGS = frozenset(
    {"STREAMER_RUN_DIR", "STREAMER_DEMO_RATE", "STREAMER_DEMO_DROP", "STREAMER_SOAK"}
)
"""STREAMER_* variables that ``make run`` and the tests read, not the worker."""

_SERVICE_LINK = re.compile(
    r"_(SERVICE_HOST|SERVICE_PORT(_\w+)?|PORT(_\d+_(TCP|UDP|SCTP)(_\w+)?)?)$"
)
"""The variables Kubernetes sets for each Service of the namespace (a Service named
"streamer-db" gives STREAMER_DB_SERVICE_HOST, STREAMER_DB_PORT_5432_TCP, ...)."""


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A problem for each STREAMER_* variable that names no setting (a typo would otherwise be
    ignored and its default used: STREAMER_WINDOW=90d leaves the windows at their default), and
    for each KAFKA_* one close to a KAFKA_ setting (others may be another program's), with the
    setting meant when one is close."""
    streamer = {f"STREAMER_{name.upper()}" for name in Settings.model_fields if name != "kafka"}
    kafka = {f"KAFKA_{name.upper()}" for name in KafkaSettings.model_fields}
    problems = []
    for name in sorted(environ):
        if name.startswith("STREAMER_"):
            if name in streamer or name in NOT_SETTINGS or _SERVICE_LINK.search(name):
                continue
            close = difflib.get_close_matches(name, streamer, n=1)
        elif name.startswith("KAFKA_") and name not in kafka:
            close = difflib.get_close_matches(name, kafka, n=1, cutoff=0.75)
            close = close or [known for known in kafka if name.startswith(known + "_")]
            if not close:
                continue
        else:
            continue
        meant = f": did you mean {close[0]}?" if close else ""
        problems.append(f"{name}: not a setting, so it would be ignored{meant}")
    return problems


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment (``overrides`` win, as command-line options do); raises
    SettingsError naming the environment variable of every problem found, an unknown one
    included."""
    problems = unknown_variables(os.environ)
    try:
        kafka = KafkaSettings()
    except ValidationError as error:
        problems += _explain(error, "KAFKA_")
        kafka = KafkaSettings.model_construct()  # only so the rest is checked too
    try:
        settings = Settings(kafka=kafka, **overrides)
    except ValidationError as error:
        problems += _explain(error, "STREAMER_")
    if problems:
        raise SettingsError(problems)
    return settings


def _explain(error: ValidationError, prefix: str) -> list[str]:
    lines = []
    for found in error.errors():
        name = prefix + "_".join(str(part) for part in found["loc"]).upper()
        cause = found.get("ctx", {}).get("error")
        if isinstance(cause, WebConfigError):
            lines += [f"{name}: {problem}" for problem in cause.problems]
        elif isinstance(cause, ValueError):
            lines.append(f"{name}: {cause}")
        else:
            lines.append(f"{name}: {found['msg']}, got {found['input']!r}")
    return lines
