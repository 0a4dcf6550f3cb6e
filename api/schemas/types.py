"""Field types request schemas share. The rules themselves live in ``geo`` (written once, also
applied to CLI imports): text and links are checked by the domain (``geo.reports.intake``,
``geo.reports.workflow``), times by ``geo.instants``; these only hook them into pydantic."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BeforeValidator, Field

from geo.instants import INSTANT_FORMAT, instant_problem

_DOC = f"{INSTANT_FORMAT[0].upper()}{INSTANT_FORMAT[1:]}."


def _instant(value: object) -> object:
    if isinstance(value, datetime):  # built in Python (tests, CLI): already an instant
        return value
    if (reason := instant_problem(value)) is not None:
        raise ValueError(reason)
    return value


def _text_instant(value: object) -> object:
    if not isinstance(value, str):  # say what a time is, rather than "should be a valid string"
        raise ValueError(instant_problem(value))
    return value


# An ISO 8601 string with a UTC offset; never a number (geo.instants).
Instant = Annotated[AwareDatetime, BeforeValidator(_instant), Field(description=_DOC)]
# The same, kept as text for the domain to parse (geo.instants.parse_instant): on the intake
# path a Python validator per field cost more than the parse itself. A number is not a str.
InstantText = Annotated[str, BeforeValidator(_text_instant), Field(
    max_length=40, json_schema_extra={"format": "date-time"}, description=_DOC)]
