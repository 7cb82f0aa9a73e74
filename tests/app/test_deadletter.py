"""What a dead letter tells whoever reads the dead-letter topic."""

import json

from streamer.app.deadletter import dead_letter


def test_a_letter_names_the_reason_the_source_position_and_carries_the_value():
    letter = dead_letter("not_json", "not JSON", "answers", 3, 41, 1_700_000_000_000, b"hello", 64)
    assert json.loads(letter) == {
        "reason": "not_json",
        "message": "not JSON",
        "source": {
            "topic": "answers",
            "partition": 3,
            "offset": 41,
            "timestamp_ms": 1_700_000_000_000,
        },
        "value_base64": "aGVsbG8=",
        "value_bytes": 5,
        "value_truncated": False,
    }


def test_a_long_value_is_cut_to_the_limit_and_its_full_size_is_told():
    letter = json.loads(dead_letter("too_large", "", "answers", 0, 0, None, b"hello", 3))
    assert letter["value_base64"] == "aGVs"  # b"hel"
    assert (letter["value_bytes"], letter["value_truncated"]) == (5, True)
    assert letter["source"]["timestamp_ms"] is None


def test_a_value_exactly_at_the_limit_is_whole():
    letter = json.loads(dead_letter("late", "", "answers", 0, 0, None, b"hello", 5))
    assert (letter["value_base64"], letter["value_truncated"]) == ("aGVsbG8=", False)


def test_a_message_without_a_value_is_still_a_letter():
    letter = json.loads(dead_letter("not_json", "no value", "answers", 1, 2, 0, None, 64))
    assert (letter["value_base64"], letter["value_bytes"], letter["value_truncated"]) == (
        "",
        0,
        False,
    )


def test_a_zero_limit_keeps_no_bytes_but_says_how_many_there_were():
    letter = json.loads(dead_letter("late", "", "answers", 0, 0, None, b"hello", 0))
    assert (letter["value_base64"], letter["value_bytes"], letter["value_truncated"]) == (
        "",
        5,
        True,
    )
