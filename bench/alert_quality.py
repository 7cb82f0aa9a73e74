"""Alert quality: false pages on a stream in which nothing changes, and how fast real drops page.

Every figure comes from ``streamer.backtest`` (the worker's own core and evaluation policy) on
generated answers with fixed seeds:

- stationary streams (several touchpoint counts and answer rates, 7+ days): pages per rule and
  per 100 series-weeks; every one of them is a false page;
- the same streams with one touchpoint's score dropping at a known moment (NPS -20 and -40
  points, CSAT -0.10, at 60 and 300 answers/hour): the median delay from the drop to the page.

    python -m bench.alert_quality                     # the table in bench/README.md
    python -m bench.alert_quality --smoke             # seconds: what make test runs
    python -m bench.alert_quality --thin              # 2,000 thin series: the baseline's margin
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.report import save
from streamer.backtest import Report, backtest
from streamer.core.alerting import Status
from streamer.core.durations import parse_false_alarms
from streamer.core.events import SurveyResponse
from streamer.core.rules import Rule
from streamer.core.scales import CES_7, CSAT_5, NPS_SCALE, Metric, Scoring
from streamer.core.scores import ScoreKind
from streamer.core.sequential import limit, reference
from streamer.core.tally import CesTally, CsatTally, NpsTally
from streamer.core.timeline import Timeline
from streamer.rules_file import read_rules

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
QUARTER_MS = 91 * DAY_MS
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a Thursday
RULES = Path(__file__).parents[1] / "deploy" / "rules.example.yaml"
TIMELINE = Timeline.parse("1m", "5m,1h,24h,7d", "10m")

NPS_SHARES = (0.55, 0.275, 0.175)
"""Promoters, passives, detractors: NPS 37.5, the healthy contact center of issue 11."""
CSAT_SATISFIED = 0.85


@dataclass(frozen=True, slots=True)
class Shift:
    touchpoint: str
    metric: Metric
    delta: float
    """NPS points or CSAT ratio (negative: worse)."""
    at_ms: int


def answers(
    touchpoints: int, per_hour: float, days: float, seed: int, shift: Shift | None = None
) -> Iterator[SurveyResponse]:
    """Poisson arrivals of NPS, CSAT and CES answers per touchpoint, ``per_hour`` of each."""
    rng = random.Random(seed)
    end = START_MS + int(days * DAY_MS)
    streams = []
    for t in range(touchpoints):
        for metric in (Metric.NPS, Metric.CSAT, Metric.CES):
            streams.append((f"tp{t:03d}", metric))
    gap_ms = HOUR_MS / per_hour
    clocks = [START_MS + rng.expovariate(1.0) * gap_ms for _ in streams]
    count = 0
    merged: list[tuple[float, int]] = sorted((c, i) for i, c in enumerate(clocks))
    heapq.heapify(merged)
    while merged:
        at, i = heapq.heappop(merged)
        if at >= end:
            continue
        touchpoint, metric = streams[i]
        shifted = shift is not None and shift.touchpoint == touchpoint and at >= shift.at_ms
        delta = shift.delta if shifted and shift is not None and shift.metric is metric else 0.0
        count += 1
        yield _answer(rng, f"e{count}", int(at), touchpoint, metric, delta)
        heapq.heappush(merged, (at + rng.expovariate(1.0) * gap_ms, i))


def _answer(
    rng: random.Random, event_id: str, at_ms: int, touchpoint: str, metric: Metric, delta: float
) -> SurveyResponse:
    if metric is Metric.NPS:
        promoters, passives, detractors = NPS_SHARES
        moved = -delta / 200.0  # NPS falls by 2 points per point of share moved
        promoters, detractors = promoters - moved, detractors + moved
        u = rng.random()
        score = 10 if u < promoters else 7 if u < promoters + passives else 3
        return SurveyResponse(event_id, at_ms, touchpoint, metric, score, NPS_SCALE)
    if metric is Metric.CSAT:
        score = 5 if rng.random() < CSAT_SATISFIED + delta else 2
        return SurveyResponse(event_id, at_ms, touchpoint, metric, score, CSAT_5)
    score = rng.choice((7, 6, 6, 5, 5, 4, 3, 2))
    return SurveyResponse(event_id, at_ms, touchpoint, metric, score, CES_7)


def run(
    rules: tuple[Rule, ...],
    touchpoints: int,
    per_hour: float,
    days: float,
    seed: int,
    shift: Shift | None = None,
    tick_ms: int = 1_000,
) -> Report:
    stream = list(answers(touchpoints, per_hour, days, seed, shift))
    return backtest(stream, rules, TIMELINE, Scoring(), tick_ms=tick_ms)


def false_pages(
    rules: tuple[Rule, ...], touchpoints: int, per_hour: float, days: float, seeds: int
) -> dict[str, object]:
    pages: dict[str, int] = {rule.name: 0 for rule in rules}
    series_weeks: dict[str, float] = {rule.name: 0.0 for rule in rules}
    for seed in range(seeds):
        # A 10 s clock: false pages do not depend on the tick, the run time does (10x fewer).
        report = run(rules, touchpoints, per_hour, days, seed, tick_ms=10_000)
        for rule in rules:
            pages[rule.name] += report.pages()[rule.name]
            series_weeks[rule.name] += report.series_ms[rule.name] / (7 * DAY_MS)
    return {
        rule.name: {
            "pages": pages[rule.name],
            "series_weeks": round(series_weeks[rule.name], 1),
            "per_100_series_weeks": round(100 * pages[rule.name] / series_weeks[rule.name], 3)
            if series_weeks[rule.name]
            else None,
        }
        for rule in rules
    }


def detection_delay(
    rules: tuple[Rule, ...],
    metric: Metric,
    delta: float,
    per_hour: float,
    seeds: int,
    warmup_days: float = 7.5,
    touchpoints: int = 4,
) -> dict[str, object]:
    """Median minutes from the drop to the first page on the dropped touchpoint, per rule."""
    at_ms = START_MS + int(warmup_days * DAY_MS)
    delays: dict[str, list[float]] = {}
    for seed in range(seeds):
        shift = Shift("tp000", metric, delta, at_ms)
        report = run(rules, touchpoints, per_hour, warmup_days + 1.0, 1000 + seed, shift)
        for rule in rules:
            if rule.score.metric is not metric:
                continue
            first = [
                a.starts_at_ms
                for a in report.alerts
                if a.rule.name == rule.name
                and a.status is Status.FIRING
                and a.series.touchpoint == "tp000"
                and not a.series.dimensions
                and a.starts_at_ms >= at_ms
            ]
            delays.setdefault(rule.name, []).append(
                (min(first) - at_ms) / 60_000 if first else float("inf")
            )
    return {
        name: {
            "median_minutes": round(statistics.median(values), 1)
            if statistics.median(values) != float("inf")
            else None,
            "detected": sum(v != float("inf") for v in values),
            "runs": len(values),
        }
        for name, values in delays.items()
    }


def expected_delay_minutes(
    min_drop: float, true_drop: float, per_hour: float, series: int, every_ms: int
) -> float:
    """Wald's approximation of the NPS detector's delay: the limit over the expected
    log-likelihood ratio of an answer under the true drop (a week of baseline answers)."""
    baseline = NpsTally(*(round(share * per_hour * 24 * 7) for share in NPS_SHARES))
    ref = reference(ScoreKind.NPS, baseline, min_drop, Scoring().ces, series)
    assert ref is not None
    moved = true_drop / 200.0
    shares = (NPS_SHARES[0] - moved, NPS_SHARES[1], NPS_SHARES[2] + moved)
    per_answer = sum(
        share * ref.log_likelihood_ratio(ScoreKind.NPS, one)
        for share, one in zip(
            shares, (NpsTally(1, 0, 0), NpsTally(0, 1, 0), NpsTally(0, 0, 1)), strict=True
        )
    )
    h = limit(per_hour / HOUR_MS, series, 1.0 / every_ms)
    return math.inf if per_answer <= 0 else 60.0 * h / per_answer / per_hour


def thin_csat_pages(
    rng: random.Random, truth: float, agents: int, per_hour: float, baseline_n: int, weeks: int
) -> int:
    """False pages of a CSAT drop rule (min_drop 0.05, 1 false page a quarter) over ``agents``
    series in control at ``truth``: each week every series gets a baseline of ``baseline_n``
    answers drawn afresh, then a week of answers. The CUSUM is floored at 0 after every answer,
    which pages at least as often as the detector's floor per bucket. A page is an alarm that
    starts; it ends when the statistic is back at 0, as the detector's does."""
    h = limit(per_hour / HOUR_MS, agents, 1.0 / QUARTER_MS)
    pages, per_week, log_truth = 0, round(per_hour * 24 * 7), math.log(truth)
    for _ in range(agents):
        statistic, alarmed = 0.0, False
        for _ in range(weeks):
            satisfied = sum(rng.random() < truth for _ in range(baseline_n))
            baseline = CsatTally(baseline_n, satisfied)
            ref = reference(ScoreKind.CSAT, baseline, 0.05, Scoring().ces, agents)
            if ref is None:
                continue
            success, failure = ref.slope + ref.per_answer, ref.per_answer
            left = per_week
            while left:
                # Satisfied answers in a row until the next dissatisfied one (geometric).
                run = min(left, int(math.log(1.0 - rng.random()) / log_truth))
                statistic = max(0.0, statistic + run * success)
                alarmed = alarmed and statistic > 0.0
                left -= run
                if left:
                    left -= 1
                    statistic = min(h, statistic + failure)
                    if statistic >= h and not alarmed:
                        alarmed, pages = True, pages + 1
    return pages


def thin_ces_pages(
    rng: random.Random,
    shares: dict[int, float],
    agents: int,
    per_hour: float,
    baseline_n: int | None,
    weeks: int,
) -> int:
    """As ``thin_csat_pages`` for a CES-mean drop rule (1-7, min_drop 0.5): answers drawn from
    ``shares`` (score -> share), each week a baseline of ``baseline_n`` answers (None: the
    truth itself, a baseline known exactly), then a week of answers, one at a time."""
    h = limit(per_hour / HOUR_MS, agents, 1.0 / QUARTER_MS)
    scores, weights = list(shares), list(shares.values())
    mean = sum(s * w for s, w in shares.items())
    square = sum(s * s * w for s, w in shares.items())
    known = CesTally(10**6, round(mean * 10**6), round(square * 10**6), 0)
    pages, per_week = 0, round(per_hour * 24 * 7)
    for _ in range(agents):
        statistic, alarmed = 0.0, False
        for _ in range(weeks):
            baseline = known
            if baseline_n is not None:
                drawn = rng.choices(scores, weights, k=baseline_n)
                baseline = CesTally(baseline_n, sum(drawn), sum(x * x for x in drawn), 0)
            ref = reference(ScoreKind.CES_MEAN, baseline, 0.5, Scoring().ces, agents)
            assert ref is not None
            for x in rng.choices(scores, weights, k=per_week):
                statistic = min(h, max(0.0, statistic + ref.slope * x + ref.per_answer))
                alarmed = alarmed and statistic > 0.0
                if statistic >= h and not alarmed:
                    alarmed, pages = True, pages + 1
    return pages


SKEWED_CES = {1: 0.05, 6: 0.25, 7: 0.70}
"""Mostly 6-7 with a few 1s: the shape of real CES answers, where a normal model misleads."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", default=str(RULES))
    parser.add_argument("--seeds", type=int, default=3, help="runs per detection figure")
    parser.add_argument("--days", type=float, default=14.0, help="length of stationary streams")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for make test")
    parser.add_argument(
        "--table", action="store_true", help="only the expected-delay table (docs/alerting.md)"
    )
    parser.add_argument(
        "--only", choices=["stationary", "detection"], help="one half (run both side by side)"
    )
    parser.add_argument(
        "--thin",
        action="store_true",
        help="only the false pages of CSAT and CES drop rules over 2,000 thin agents",
    )
    args = parser.parse_args()
    if args.thin:
        # CSAT 0.97, 1.5 answers an hour, 6-day baselines (216 answers): docs/alerting.md.
        pages = [
            thin_csat_pages(random.Random(seed), 0.97, 2000, 1.5, 216, 13) for seed in range(10)
        ]
        print(f"CSAT, false pages per quarter, 10 seeds: {pages}; {sum(pages)}, budget 10")
        for baseline_n in (None, 216):
            ces = [
                thin_ces_pages(random.Random(seed), SKEWED_CES, 2000, 1.5, baseline_n, 13)
                for seed in range(2)
            ]
            print(f"CES mean, baseline {baseline_n or 'known'}: {ces} in 2 quarters, budget 2")
        return
    if args.table:
        print("| min_drop | true drop | answers/h | series | budget | expected delay |")
        print("|---|---|---|---|---|---|")
        budget = "1/quarter"
        every = parse_false_alarms(budget)
        # min_drop, true drop, answers/h, series: the rows of docs/alerting.md's table.
        rows = [(m, d, r, 20) for m in (15.0, 30.0) for d in (20.0, 40.0) for r in (60.0, 300.0)]
        for min_drop, true_drop, rate, series in [*rows, (30.0, 40.0, 300.0, 2000)]:
            minutes = expected_delay_minutes(min_drop, true_drop, rate, series, every)
            print(
                f"| {min_drop:g} | {true_drop:g} | {rate:g} | {series} | {budget} "
                f"| {minutes:.0f} min |"
            )
        return
    rules = read_rules(args.rules, {w.label: w.length_ms for w in TIMELINE.windows})
    started = time.time()
    if args.smoke:
        stationary = [(2, 60.0, 1.0, 1)]
        drops = [(Metric.NPS, -40.0, 300.0)]
        seeds, warmup = 1, 1.0
    else:
        stationary = [(20, 60.0, args.days, 1), (5, 300.0, args.days, 1)]
        drops = [
            (metric, delta, rate)
            for metric, delta in ((Metric.NPS, -20.0), (Metric.NPS, -40.0), (Metric.CSAT, -0.10))
            for rate in (60.0, 300.0)
        ]
        seeds, warmup = args.seeds, 7.5
    if args.only == "stationary":
        drops = []
    elif args.only == "detection":
        stationary = []
    figures: dict[str, object] = {"false_pages": [], "detection": []}
    for touchpoints, rate, days, runs in stationary:
        result = false_pages(rules, touchpoints, rate, days, runs)
        figures["false_pages"].append(  # type: ignore[attr-defined]
            {"touchpoints": touchpoints, "per_hour": rate, "days": days, "rules": result}
        )
        print(f"stationary {touchpoints} touchpoints x {rate:g}/h x {days:g} d: {result}")
    for metric, delta, rate in drops:
        result = detection_delay(rules, metric, delta, rate, seeds, warmup)
        figures["detection"].append(  # type: ignore[attr-defined]
            {"metric": metric.value, "delta": delta, "per_hour": rate, "rules": result}
        )
        print(f"drop {metric.value} {delta:+g} at {rate:g}/h: {result}")
    figures["seconds"] = round(time.time() - started, 1)
    if not args.smoke:
        name = "alert_quality" + (f"_{args.only}" if args.only else "")
        command = "python -m bench.alert_quality" + (f" --only {args.only}" if args.only else "")
        save(name, command, figures)


if __name__ == "__main__":
    main()
