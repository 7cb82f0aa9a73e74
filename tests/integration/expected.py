"""Ground truth computed from the input alone, written plainly from the definitions."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

SATISFIED_FROM = {"1-5": 4, "1-7": 6, "1-10": 9}


def tallies(
    events: list[dict[str, Any]], key: str = "touchpoint"
) -> dict[tuple[str, str], dict[str, float]]:
    """Per (touchpoint or other key, metric): counts and scores of a list of unique valid events."""
    out: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for event in events:
        t = out[(event[key], event["metric"])]
        score = event["score"]
        t["n"] += 1
        if event["metric"] == "nps":
            t["promoters"] += score >= 9
            t["detractors"] += score <= 6
            t["passives"] += 7 <= score <= 8
        elif event["metric"] == "csat":
            t["satisfied"] += score >= SATISFIED_FROM[event.get("scale", "1-5")]
        else:
            t["sum"] += score
            t["agree"] += score >= 5
    for (_, metric), t in out.items():
        if metric == "nps":
            t["nps"] = 100 * (t["promoters"] - t["detractors"]) / t["n"]
        elif metric == "csat":
            t["csat"] = t["satisfied"] / t["n"]
        else:
            t["ces_mean"] = t["sum"] / t["n"]
            t["ces_agree"] = t["agree"] / t["n"]
    return out
