"""The scale policies as the settings spell them."""

import pytest

from streamer.core.scales import CES_5, CES_7, CesPolicy, CsatPolicy, Scale


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
