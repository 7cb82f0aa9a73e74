"""Prometheus alerting rules on the workers themselves: when a worker stops, the scores and the
pages of its partitions stop with it, and the customer-experience rules say nothing. These
rules page (or ticket) the people who run streamer; each names its section of
``docs/operations.md``, which says what to do.

They select the workers by ``streamer_build_info`` rather than by job name, so that they hold
for compose's job, a ServiceMonitor's (the Service's name) and any other scrape config: a target
is a worker if its job had one in the last week. By job, not by instance: a pod replaced by a
rollout gets another address (its instance), and one that exits before it serves /metrics
(status 2: it refuses its settings) never exported a sample of its own.
"""

from __future__ import annotations

from typing import Any

from streamer.export import names

RUNBOOK = "docs/operations.md#"

_WORKER = f"on (namespace, job) max by (namespace, job) (max_over_time({names.BUILD_INFO}[7d]))"
"""Joined to a per-target vector: only targets of jobs (in their namespace: one name may be
another program's elsewhere) that had a streamer worker in the last week (a worker down has no
samples of its own now; one down for longer is no longer known as a worker). A target removed
on purpose (a scale-down) leaves discovery, and its ``up`` with it."""


def _rule(
    alert: str, expr: str, for_: str, severity: str, summary: str, anchor: str
) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": alert, "expr": expr}
    if for_:
        rule["for"] = for_
    rule["labels"] = {"severity": severity}
    rule["annotations"] = {"summary": summary, "runbook": RUNBOOK + anchor}
    return rule


def health_rules() -> dict[str, Any]:
    failures = names.total(names.ALERT_SEND_FAILURES)
    events = names.total(names.EVENTS)
    return {
        "groups": [
            {
                "name": "streamer-health",
                "rules": [
                    _rule(
                        "StreamerWorkerDown",
                        f"(up == 0) and {_WORKER}",
                        "5m",
                        "page",
                        "streamer worker {{ $labels.instance }} has not answered Prometheus for "
                        "5 minutes (down, or refusing to start: status 2): its partitions are "
                        "neither scored nor watched until it is back or another worker takes them",
                        "a-worker-is-down",
                    ),
                    _rule(
                        "StreamerWorkerRestarting",
                        f"(changes(process_start_time_seconds[30m]) >= 2) and {_WORKER}",
                        "",
                        "page",
                        "streamer worker {{ $labels.instance }} restarted {{ $value }} times in "
                        "30 minutes: status 3 stops it on a record Kafka lost, status 2 on "
                        "persisted state it must not read; a kill (out of memory) restarts it too",
                        "a-worker-keeps-restarting",
                    ),
                    _rule(
                        "StreamerAlertsDropped",
                        f'sum by (job, instance, sink, reason) (increase({failures}{{reason=~"'
                        'http_4xx|dropped_queue_full"}[10m])) > 0',
                        "",
                        "page",
                        "streamer worker {{ $labels.instance }} dropped alerts for "
                        "{{ $labels.sink }} ({{ $labels.reason }}): pages were lost",
                        "alerts-were-dropped",
                    ),
                    _rule(
                        "StreamerAlertsDelayed",
                        f"min_over_time({names.ALERT_QUEUE}[15m]) > 0",
                        "",
                        "warning",
                        "alerts have waited 15 minutes on {{ $labels.instance }} for "
                        "{{ $labels.sink }}: it is down or refuses them",
                        "alerts-are-delayed",
                    ),
                    _rule(
                        "StreamerDeadLetters",
                        f'sum by (job, instance) (rate({events}{{outcome="rejected"}}[15m])) / '
                        f"sum by (job, instance) (rate({events}[15m])) > 0.05",
                        "15m",
                        "ticket",
                        "{{ $value | humanizePercentage }} of the events read by "
                        "{{ $labels.instance }} are rejected: a producer sends what the event "
                        "contract refuses",
                        "events-are-dead-lettered",
                    ),
                    _rule(
                        "StreamerSeriesOverflow",
                        f"increase({names.total(names.SERIES_OVERFLOW)}[1h]) > 0",
                        "",
                        "ticket",
                        "answers on {{ $labels.instance }} are folded into __other__: more "
                        "series than STREAMER_MAX_SERIES",
                        "series-overflow",
                    ),
                    _rule(
                        "StreamerTouchpointOnTwoPartitions",
                        f"increase({names.total(names.TOUCHPOINT_CONFLICTS)}[1h]) > 0",
                        "",
                        "ticket",
                        "a touchpoint arrives on two input partitions at {{ $labels.instance }}: "
                        "producers keyed by touchpoint with different partitioners",
                        "a-touchpoint-on-two-partitions",
                    ),
                ],
            }
        ]
    }
