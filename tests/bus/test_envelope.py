"""Tests for gridedge.bus.envelope: MQTT topic validation and matching, the envelope type."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from uuid import UUID

import pytest

from gridedge.bus import Envelope, TopicFilter, topic_matches, validate_topic

TS = datetime(2024, 1, 1, tzinfo=UTC)
ID = UUID(int=1)


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        # exact
        ("a/b/c", "a/b/c", True),
        ("a/b/c", "a/b", False),
        ("a/b", "a/b/c", False),
        ("a/b/c", "a/b/d", False),
        ("A/b", "a/b", False),  # case-sensitive
        # '#' alone matches everything (except $-topics)
        ("#", "a", True),
        ("#", "a/b/c", True),
        ("#", "/", True),
        ("#", "/a", True),
        # '#' at the end, including the parent level
        ("a/#", "a", True),
        ("a/#", "a/b", True),
        ("a/#", "a/b/c/d", True),
        ("a/#", "ab", False),
        ("a/#", "b/a", False),
        ("a/b/#", "a", False),
        # '+' exactly one level
        ("a/+/c", "a/b/c", True),
        ("a/+/c", "a//c", True),  # empty level
        ("a/+/c", "a/b/d", False),
        ("a/+/c", "a/b/x/c", False),
        ("a/+/c", "a/c", False),
        ("a/+", "a/b", True),
        ("a/+", "a/", True),
        ("a/+", "a", False),
        ("a/+", "a/b/c", False),
        ("+", "a", True),
        ("+", "a/b", False),
        ("+", "/a", False),
        ("+/+", "/a", True),
        ("/+", "/a", True),
        # '+/#'
        ("+/#", "a", True),
        ("+/#", "a/b", True),
        ("+/#", "a/b/c", True),
        ("+/b/#", "a/b", True),
        ("+/b/#", "a/c/b", False),
        # $-topics are not matched by a leading wildcard
        ("#", "$SYS/broker", False),
        ("+/broker", "$SYS/broker", False),
        ("+/#", "$SYS", False),
        ("$SYS/#", "$SYS/broker/load", True),
        ("$SYS/+", "$SYS/x", True),
        ("a/+", "a/$x", True),
    ],
)
def test_wildcard_matching(pattern: str, topic: str, expected: bool) -> None:
    assert topic_matches(pattern, topic) is expected
    assert TopicFilter.parse(pattern).matches(topic) is expected


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("a/#/b", "'#' must be the last level"),
        ("#/a", "'#' must be the last level"),
        ("a+", r"wildcard '\+' must occupy a whole level, found in level 0 'a\+'"),
        ("+a", "must occupy a whole level"),
        ("a/b+/c", "found in level 1"),
        ("a#", "wildcard '#' must occupy a whole level"),
        ("a/b#", "found in level 1"),
        ("##", "must occupy a whole level"),
        ("", "must not be empty"),
        ("a/\x00", "NUL"),
        ("a" * 70_000, "65535"),
    ],
)
def test_invalid_filters_raise_clear_errors(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TopicFilter.parse(pattern)


@pytest.mark.parametrize("pattern", ["#", "+", "+/+", "a/+/c", "+/#", "a/#", "/", "a//b", "$SYS/#", "é/ü"])
def test_valid_filters_parse(pattern: str) -> None:
    assert TopicFilter.parse(pattern).pattern == pattern
    assert str(TopicFilter.parse(pattern)) == pattern


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("a/+", r"wildcard '\+' at index 2"),
        ("#", "wildcard '#' at index 0"),
        ("a/b#", "only allowed in subscription filters"),
        ("", "must not be empty"),
        ("a\x00b", "NUL character at index 1"),
    ],
)
def test_invalid_topic_names(topic: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_topic(topic)


def test_topic_matches_validates_the_topic_too() -> None:
    with pytest.raises(ValueError, match="wildcard"):
        topic_matches("#", "a/+")


def test_envelope_is_frozen_and_validated() -> None:
    env = Envelope("meter/p1/reading", 42, "p1", 1, TS, ID)
    assert (env.topic, env.payload, env.source, env.sequence, env.timestamp, env.message_id) == (
        "meter/p1/reading",
        42,
        "p1",
        1,
        TS,
        ID,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        env.payload = 43  # type: ignore[misc]
    with pytest.raises(ValueError, match="wildcard"):
        Envelope("meter/+", 1, "p1", 1, TS, ID)
    with pytest.raises(ValueError, match="source"):
        Envelope("meter", 1, "", 1, TS, ID)
    with pytest.raises(ValueError, match="sequence"):
        Envelope("meter", 1, "p1", 0, TS, ID)
    with pytest.raises(ValueError, match="timezone-aware"):
        Envelope("meter", 1, "p1", 1, datetime(2024, 1, 1), ID)


def test_envelope_equality_is_by_value() -> None:
    assert Envelope("t", (1, 2), "s", 3, TS, ID) == Envelope("t", (1, 2), "s", 3, TS, ID)
    assert Envelope("t", (1, 2), "s", 3, TS, ID) != Envelope("t", (1, 2), "s", 4, TS, ID)
