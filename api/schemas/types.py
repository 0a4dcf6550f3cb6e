"""Field types every request schema shares. The rules themselves live in ``geo`` (written
once, also applied to CLI imports); these only hook them into pydantic."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

from geo.instants import INSTANT_FORMAT, instant_problem
from geo.text import text_problem, url_problem


def _text(value: str) -> str:
    if (reason := text_problem(value)) is not None:
        raise ValueError(reason)
    return value


def _url(value: str) -> str:
    if (reason := url_problem(value)) is not None:
        raise ValueError(reason)
    return value


def _instant(value: object) -> object:
    if isinstance(value, datetime):  # built in Python (tests, CLI): already an instant
        return value
    if (reason := instant_problem(value)) is not None:
        raise ValueError(reason)
    return value


# Text the database can store: no NUL, no lone surrogates (geo.text).
SafeStr = Annotated[str, AfterValidator(_text)]
# A link shown to others: absolute http(s) only, never javascript: or data:.
HttpUrlStr = Annotated[str, Field(max_length=2000), AfterValidator(_url)]
# An ISO 8601 string with a UTC offset; never a number (geo.instants).
Instant = Annotated[AwareDatetime, BeforeValidator(_instant), Field(description=f"{INSTANT_FORMAT[0].upper()}{INSTANT_FORMAT[1:]}.")]
