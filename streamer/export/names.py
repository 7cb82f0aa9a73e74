"""Every metric name the worker exports, in one place: the scrape-time collector, the Prometheus
rule exporter and the deploy-file generator read them here.

Score metrics keep the ``cx_`` prefix (they are the product: customer-experience scores and
their window counts); the worker's own health is ``streamer_``. Counters are named without
``_total``, as prometheus-client wants them; their samples (what PromQL sees) add it.
"""

from __future__ import annotations

from typing import Final

from streamer.core.scores import ScoreKind

# Score gauges; LOWER/UPPER suffixes carry the bounds of the 95% interval.
NPS: Final = "cx_nps"
CSAT: Final = "cx_csat_ratio"
CES_MEAN: Final = "cx_ces_mean"
CES_AGREE_RATIO: Final = "cx_ces_agree_ratio"
SCORES: Final = {
    ScoreKind.NPS: NPS,
    ScoreKind.CSAT: CSAT,
    ScoreKind.CES_MEAN: CES_MEAN,
    ScoreKind.CES_AGREE: CES_AGREE_RATIO,
}
LOWER: Final = "_lower"
UPPER: Final = "_upper"
NPS_STANDARD_ERROR: Final = "cx_nps_standard_error"

# Window counts, so that PromQL can re-aggregate scores across series.
RESPONSES: Final = "cx_responses"
PROMOTERS: Final = "cx_promoters"
PASSIVES: Final = "cx_passives"
DETRACTORS: Final = "cx_detractors"
SATISFIED: Final = "cx_satisfied"
CES_AGREE: Final = "cx_ces_agree"
CES_POINTS: Final = "cx_ces_points"
CES_POINTS_SQUARED: Final = "cx_ces_points_squared"

# The worker's own health.
EVENTS: Final = "streamer_events"
DEAD_LETTERS: Final = "streamer_dead_letters"
CONSUMER_LAG: Final = "streamer_consumer_lag"
PROCESSING_DELAY: Final = "streamer_processing_delay_seconds"
LAST_EVENT: Final = "streamer_last_event_timestamp_seconds"
LAST_PROCESSED: Final = "streamer_last_processed_timestamp_seconds"
SERIES: Final = "streamer_series"
SERIES_OVERFLOW: Final = "streamer_series_overflow"
REPARTITIONED: Final = "streamer_repartitioned"
TOUCHPOINT_CONFLICTS: Final = "streamer_touchpoint_partition_conflicts"
STATE_WRITTEN_BYTES: Final = "streamer_state_written_bytes"
BUILD_INFO: Final = "streamer_build_info"

# Alerts: delivery to the sinks, and what the rules work with.
ALERTS_SENT: Final = "streamer_alerts_sent"
ALERT_SEND_FAILURES: Final = "streamer_alert_send_failures"
ALERT_QUEUE: Final = "streamer_alert_queue"
RULE_SERIES: Final = "streamer_rule_series"
RULE_FALSE_ALARMS: Final = "streamer_rule_false_alarms_per_week"


def total(counter: str) -> str:
    """The sample name of a counter, as scraped and queried."""
    return f"{counter}_total"


# Labels every score and count series carries; the dimension labels come from core.events.
TOUCHPOINT: Final = "touchpoint"
WINDOW: Final = "window"
METRIC: Final = "metric"  # on RESPONSES only: nps, csat or ces

HELP: Final = {
    NPS: "Net Promoter Score (-100..100) in the window",
    NPS_STANDARD_ERROR: "Standard error of the NPS in the window",
    CSAT: "CSAT: satisfied (top-2-box by default, STREAMER_CSAT_SATISFIED_FROM) / all answers "
    "(0..1) in the window",
    CES_MEAN: "Mean CES score in the window, on STREAMER_CES_SCALE (1-7: higher is easier; 1-5: "
    "lower is easier)",
    CES_AGREE_RATIO: "Share of CES answers agreeing it was easy (0..1) in the window",
    RESPONSES: "Answers in the window",
    PROMOTERS: "NPS promoters (9-10) in the window",
    PASSIVES: "NPS passives (7-8) in the window",
    DETRACTORS: "NPS detractors (0-6) in the window",
    SATISFIED: "CSAT satisfied answers (top-2-box by default) in the window",
    CES_AGREE: "CES answers agreeing it was easy in the window",
    CES_POINTS: "Sum of CES scores in the window (mean = points / responses)",
    CES_POINTS_SQUARED: "Sum of squared CES scores in the window (for the variance)",
    EVENTS: "Events by outcome (accepted, rejected, duplicate, late, replayed)",
    DEAD_LETTERS: "Records written to the dead-letter topic",
    CONSUMER_LAG: "Messages on the input and repartition topics not yet processed",
    PROCESSING_DELAY: "From the Kafka timestamp of the oldest event of a batch to the end of "
    "its processing",
    LAST_EVENT: "Event time of the newest accepted answer",
    LAST_PROCESSED: "Wall-clock time the last batch finished",
    SERIES: "Series kept (touchpoint and breakdown series), at most STREAMER_MAX_SERIES",
    SERIES_OVERFLOW: "Answers folded into __other__ by the series cap",
    REPARTITIONED: "Answers re-published to the repartition topic (their key was not their "
    "touchpoint)",
    TOUCHPOINT_CONFLICTS: "Touchpoints whose answers arrived on two partitions (producers keying "
    "by touchpoint with different partitioners), once each per worker process",
    STATE_WRITTEN_BYTES: "Key and value bytes of scoring state written to the changelog (its "
    "log records, snapshots and deletions)",
    BUILD_INFO: "The running versions of streamer, Python and Faust (always 1)",
    ALERTS_SENT: "Alerts a receiver accepted",
    ALERT_SEND_FAILURES: "Alerts an attempt did not deliver (http_5xx, throttled, timeout, "
    "connection: retried; http_4xx, dropped_queue_full: dropped)",
    ALERT_QUEUE: "Alerts waiting for delivery, in flight included",
    RULE_SERIES: "Series each rule watches; a drop rule's false-alarm budget is divided among them",
    RULE_FALSE_ALARMS: "False pages a drop rule allows by design, over all its series together",
}


def interval_help(name: str) -> str:
    """HELP of a score's interval bound, e.g. ``cx_nps_lower``."""
    base, _, bound = name.rpartition("_")
    return f"{HELP[base]}: {bound} bound of the 95% interval"
