"""Damaged input never crashes the parsers: mutated corpus files parse or quarantine."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from va_engine.connectors.base import MailMessage, Origin, Quarantined
from va_engine.connectors.ics import parse_calendar
from va_engine.connectors.mail import try_parse_message

DATA = Path(__file__).resolve().parent.parent / "data"
ICS = [p.read_bytes() for p in sorted((DATA / "ics").glob("*.ics"))]
EML = [p.read_bytes() for p in sorted((DATA / "mail").glob("*.eml"))]
AMS = ZoneInfo("Europe/Amsterdam")
ORIGIN = Origin(account="fuzz", collection="c", item="i")


@st.composite
def mutated(draw: st.DrawFn, corpus: list[bytes]) -> bytes:
    """A corpus file with a few spans deleted, duplicated or overwritten by random bytes."""
    data = bytearray(draw(st.sampled_from(corpus)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        j = min(len(data), i + draw(st.integers(1, 40)))
        action = draw(st.sampled_from(["delete", "duplicate", "garble"]))
        if action == "delete":
            del data[i:j]
        elif action == "duplicate":
            data[i:i] = data[i:j]
        else:
            data[i:j] = draw(st.binary(min_size=j - i, max_size=j - i))
    return bytes(data)


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(mutated(ICS))
def test_parse_calendar_never_raises(data: bytes) -> None:
    parsed = parse_calendar(
        data,
        origin=ORIGIN,
        start=datetime(2026, 1, 1, tzinfo=AMS),
        end=datetime(2027, 1, 1, tzinfo=AMS),
        tz=AMS,
    )
    for event in parsed.events:
        assert event.start.tzinfo is not None and event.end >= event.start
    for entry in parsed.quarantined:
        assert entry.reason and entry.origin.account == "fuzz"


@FAST
@given(mutated(EML))
def test_parse_message_never_raises(data: bytes) -> None:
    result = try_parse_message(data, origin=ORIGIN)
    assert isinstance(result, MailMessage | Quarantined)
    if isinstance(result, MailMessage):
        assert len(result.snippet) <= 300
        assert result.date is None or result.date.tzinfo is not None
