"""Hypothesis strategies shared by the core tests."""

from hypothesis import strategies as st

from streamer.core.scales import CSAT_5, CSAT_7, CSAT_10, NPS_SCALE, Metric, Scale, Scoring
from streamer.core.tally import CesTally, CsatTally, NpsTally, Tally, tally_of

SCORING = Scoring()
counts = st.integers(min_value=0, max_value=10**6)

nps_tallies = st.builds(NpsTally, counts, counts, counts)
csat_tallies = st.tuples(counts, counts).map(lambda p: CsatTally(p[0] + p[1], p[0]))
ces_tallies = st.lists(st.integers(1, 7), max_size=50).map(
    lambda scores: sum(
        (tally_of(Metric.CES, SCORING.ces.scale, s, SCORING) for s in scores), CesTally()
    )
)


def tallies_of(metric: Metric) -> st.SearchStrategy[Tally]:
    return {Metric.NPS: nps_tallies, Metric.CSAT: csat_tallies, Metric.CES: ces_tallies}[metric]


def scale_of(metric: Metric) -> st.SearchStrategy[Scale]:
    if metric is Metric.NPS:
        return st.just(NPS_SCALE)
    if metric is Metric.CSAT:
        return st.sampled_from([CSAT_5, CSAT_7, CSAT_10])
    return st.just(SCORING.ces.scale)


@st.composite
def answers(draw: st.DrawFn, metric: Metric | None = None) -> tuple[Metric, Scale, int]:
    """A valid (metric, scale, score)."""
    chosen = metric if metric is not None else draw(st.sampled_from(list(Metric)))
    scale = draw(scale_of(chosen))
    return chosen, scale, draw(st.integers(scale.low, scale.high))
