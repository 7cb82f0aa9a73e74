"""The scale policies as the settings spell them."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer.core.scales import CES_5, CES_7, CesPolicy, CsatPolicy, Scale, Scoring


def test_csat_pairs_name_each_accepted_scale_and_its_lowest_satisfied_score():
    policy = CsatPolicy.parse("1-7:6,1-5:4")
    assert policy.satisfied_from == ((Scale(1, 7), 6), (Scale(1, 5), 4))
    assert policy.default_scale == Scale(1, 5)  # 1-5 whenever it is accepted
    assert policy.threshold(Scale(1, 10)) is None


def test_without_1_5_the_first_csat_scale_is_the_default():
    assert CsatPolicy.parse("1-10:9,1-7:6").default_scale == Scale(1, 10)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("1-5", "expected scale:lowest-satisfied pairs"),
        ("1-5:four", "expected scale:lowest-satisfied pairs"),
        ("1-5:9", "CSAT satisfied-from 9 is outside the scale 1-5"),
        ("1-5:2", r"CSAT satisfied-from 2 is in the dissatisfied bottom-2 box \(1-2\)"),
        ("5-1:4", "a scale needs low < high"),
    ],
)
def test_a_csat_text_that_cannot_be_read_says_why(text, problem):
    with pytest.raises(ValueError, match=problem):
        CsatPolicy.parse(text)


def test_ces_is_agree_5_to_7_on_1_7_or_low_effort_1_to_2_on_1_5():
    agree = CesPolicy.parse("1-7")
    assert (agree.scale, agree.agree_from, agree.agree_to, agree.higher_is_easier) == (
        CES_7,
        5,
        7,
        True,
    )
    effort = CesPolicy.parse("1-5")
    assert (effort.scale, effort.agree_from, effort.agree_to, effort.higher_is_easier) == (
        CES_5,
        1,
        2,
        False,
    )
    with pytest.raises(ValueError, match="expected 1-7 or 1-5, got '0-10'"):
        CesPolicy.parse("0-10")


def test_the_policy_texts_are_the_settings_values_of_the_defaults():
    assert Scoring().policy() == {"ces": "1-7", "csat": "1-5:4,1-7:6,1-10:9"}
    assert CesPolicy.low_effort_is_good().text() == "1-5"
    assert CesPolicy(CES_7, agree_from=4).text() == "1-7 agree 4-7"  # no setting gives it
    assert CesPolicy(Scale(0, 10), 7, 10).text() == "0-10 agree 7-10"
    # How counts are read is not how they are made: the same text.
    assert CesPolicy(CES_7, higher_is_easier=False).text() == "1-7"


def test_a_csat_text_puts_the_default_first():
    assert CsatPolicy.parse("1-10:9,1-5:4,1-7:6").text() == "1-5:4,1-7:6,1-10:9"
    assert CsatPolicy.parse("1-10:9,1-7:6").text() == "1-10:9,1-7:6"
    assert CsatPolicy.parse("1-7:6,1-10:9").text() == "1-7:6,1-10:9"


def test_a_csat_scale_listed_twice_is_refused():
    """Its second satisfied-from was silently ignored (1-5:4,1-5:3 counted 3 as dissatisfied),
    and recorded in the state that way."""
    with pytest.raises(ValueError, match="CSAT scale 1-5 is listed twice"):
        CsatPolicy.parse("1-5:4,1-7:6,1-5:3")


csat_pairs = st.lists(
    st.sampled_from([Scale(1, 5), Scale(1, 7), Scale(1, 10), Scale(0, 10)]).flatmap(
        # Above the bottom-2 box, which a satisfied-from may not reach.
        lambda scale: st.tuples(st.just(scale), st.integers(scale.low + 2, scale.high))
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda pair: pair[0],  # a scale listed twice is refused
)


@given(csat_pairs, csat_pairs)
def test_csat_texts_are_equal_exactly_when_the_policies_count_the_same(first, second):
    """Canonical: the text is a setting value giving back the policy, and two policies share a
    text exactly when every answer (with or without a scale) is counted the same by both."""

    def spelled(pairs):
        return ",".join(f"{scale}:{threshold}" for scale, threshold in pairs)

    a, b = CsatPolicy.parse(spelled(first)), CsatPolicy.parse(spelled(second))
    again = CsatPolicy.parse(a.text())
    assert again.text() == a.text() and again.default_scale == a.default_scale
    scales = {scale for scale, _ in (*first, *second)}
    same = a.default_scale == b.default_scale and all(
        a.threshold(scale) == b.threshold(scale) for scale in scales
    )
    assert (a.text() == b.text()) == same
