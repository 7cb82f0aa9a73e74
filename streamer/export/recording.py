"""Prometheus recording rules: scores re-aggregated from the exported counts.

An NPS over several touchpoints is the NPS of their summed promoters, detractors and answers,
never the mean of their NPS values. The dashboard reads these series.
"""

from __future__ import annotations

from typing import Any

from streamer.core.events import DIMENSIONS
from streamer.export import names

HEADER = """\
# Scores re-aggregated from counts: an NPS over several touchpoints is the NPS of their summed
# promoters, detractors and answers, never the mean of their NPS values.
# Touchpoint series have no dimension labels (`channel=""` matches a missing label); channel
# breakdown series (STREAMER_DIMENSIONS=channel) have only `channel`.
"""


DEPLOYMENT = ("namespace", "job")
"""Kept by every aggregate: one Prometheus scraping two deployments (two releases, staging and
production) summed them into one score. A release is a job (its Service's name) in a namespace:
one release name in two namespaces is two deployments. Compose has no namespace label: the
aggregates then have none either."""


def series(name: str, *extra: str, breakdown: str | None = None) -> str:
    """A selector of the touchpoint series of a metric, or of one breakdown's series."""
    matchers = [*extra]
    for dimension in DIMENSIONS:
        matchers.append(f'{dimension}!=""' if dimension == breakdown else f'{dimension}=""')
    return f"{name}{{{','.join(matchers)}}}"


def responses(metric: str, *extra: str, breakdown: str | None = None) -> str:
    return series(names.RESPONSES, f'{names.METRIC}="{metric}"', *extra, breakdown=breakdown)


def record(level: str, score: str) -> str:
    """The recorded name of a re-aggregated score, per the Prometheus naming convention."""
    return f"{level}:{score}:ratio_of_sums"


def _aggregates(by: tuple[str, ...], breakdown: str | None) -> list[dict[str, str]]:
    level = "_".join(by)
    group = f"sum by ({', '.join(by)})"

    def total(name: str) -> str:
        return f"{group} ({series(name, breakdown=breakdown)})"

    def n(metric: str) -> str:
        # `> 0` drops a window without answers: no score sample there, as the workers export
        # none, instead of the NaN of 0 / 0.
        return f"({group} ({responses(metric, breakdown=breakdown)}) > 0)"

    return [
        {
            "record": record(level, names.NPS),
            "expr": f"100 * ({total(names.PROMOTERS)} - {total(names.DETRACTORS)}) / {n('nps')}",
        },
        {"record": record(level, names.CSAT), "expr": f"{total(names.SATISFIED)} / {n('csat')}"},
        {
            "record": record(level, names.CES_MEAN),
            "expr": f"{total(names.CES_POINTS)} / {n('ces')}",
        },
        {
            "record": record(level, names.CES_AGREE_RATIO),
            "expr": f"{total(names.CES_AGREE)} / {n('ces')}",
        },
    ]


def recording_rules() -> dict[str, Any]:
    return {
        "groups": [
            {
                "name": "streamer-aggregates",
                "rules": [
                    *_aggregates((*DEPLOYMENT, names.WINDOW), None),
                    *_aggregates((*DEPLOYMENT, names.WINDOW, "channel"), "channel"),
                    {
                        # the Prometheus convention: no _total in the name of a rate
                        "record": f"{'_'.join(DEPLOYMENT)}_outcome_reason:{names.EVENTS}:rate5m",
                        "expr": f"sum by ({', '.join(DEPLOYMENT)}, outcome, reason) "
                        f"(rate({names.total(names.EVENTS)}[5m]))",
                    },
                ],
            }
        ]
    }
