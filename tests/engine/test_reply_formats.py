"""Every reply format of seed 000's external brain (pure: no database)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from wagate.engine.brains import Audio, BrainError, BrainReply, parse_reply

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt "


@pytest.mark.parametrize(
    ("body", "parts"),
    [
        ({"output": "hi"}, ["hi"]),
        ({"output": ["one", "two", "three"]}, ["one", "two", "three"]),
        ({"reply": "r"}, ["r"]),
        ({"message": "m"}, ["m"]),
        ({"text": "t"}, ["t"]),
        ({"messages": ["a", "b"]}, ["a", "b"]),
        ({"replies": ["x", "y"]}, ["x", "y"]),
        ({"replies": [{"text": "nested"}]}, ["nested"]),
        ([{"output": "n8n item"}], ["n8n item"]),
        ([{"output": "first"}, {"output": "second"}], ["first", "second"]),
        (["plain", "list"], ["plain", "list"]),
        ("just text", ["just text"]),
        ({"output": "  padded  "}, ["padded"]),
        ({"output": ["", "  ", "kept"]}, ["kept"]),
        ({"output": None, "reply": "fallback key"}, ["fallback key"]),
        ({}, []),
        ({"output": ""}, []),
        (None, []),
    ],
)
def test_text_formats(body: Any, parts: list[str]) -> None:
    assert parse_reply(body) == BrainReply(parts)


def test_audio_base64_data_url() -> None:
    encoded = "data:audio/wav;base64," + base64.b64encode(WAV).decode()
    reply = parse_reply({"type": "audio", "audio_base64": encoded, "output": "Audio sent"})
    assert reply == BrainReply([], Audio(data=WAV, mime_type="audio/wav"))


def test_audio_base64_with_mime_field() -> None:
    for key in ("audio_mimetype", "audio_mime"):
        body = {"audio_base64": base64.b64encode(WAV).decode(), key: "audio/mpeg"}
        assert parse_reply(body).audio == Audio(data=WAV, mime_type="audio/mpeg")


def test_audio_url_either_spelling() -> None:
    for key in ("audio_url", "audioUrl"):
        reply = parse_reply({key: "https://example.test/a.mp3", "output": "Audio response sent"})
        assert reply == BrainReply([], Audio(url="https://example.test/a.mp3"))


def test_bad_base64_is_a_brain_error() -> None:
    with pytest.raises(BrainError):
        parse_reply({"audio_base64": "not base64!!"})


def test_unusable_shape_is_a_brain_error() -> None:
    with pytest.raises(BrainError):
        parse_reply(42)


def test_reply_round_trips_through_json() -> None:
    reply = BrainReply(["a"], Audio(data=WAV, mime_type="audio/wav"))
    assert BrainReply.from_json(reply.to_json()) == reply
