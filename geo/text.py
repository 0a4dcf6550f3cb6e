"""What the database can store as text, checked before any write.

PostgreSQL refuses NUL (U+0000) in ``text`` and ``jsonb``, and a lone surrogate cannot be
encoded as UTF-8 at all: either would fail the whole statement, and so every other report
written with it. Every text a client sends is checked here first, so the bad item alone gets
a 422 naming its field.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from geo.errors import InvalidInput


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None when it can."""
    if "\x00" in value:
        return "must not contain NUL (\\u0000) characters"
    if not value.isascii():  # ASCII always encodes: skip the copy for most text
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid Unicode text (no lone surrogate code points)"
    return None


def check_text(value: str | None, *, field: str) -> None:
    """Raise InvalidInput naming ``field`` when ``value`` cannot be stored (None passes)."""
    if value is not None and (reason := text_problem(value)) is not None:
        raise InvalidInput(reason, field=field)


def url_problem(value: str) -> str | None:
    """Why ``value`` is not an acceptable link to show to others (http or https only), or None."""
    if (reason := text_problem(value)) is not None:
        return reason
    if any(c.isspace() or ord(c) < 32 for c in value):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(value)
    except ValueError:
        return "is not a valid URL"
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return "must be an absolute http:// or https:// URL"
    return None


def check_url(value: str, *, field: str) -> None:
    """Raise InvalidInput naming ``field`` unless ``value`` is an absolute http(s) URL."""
    if (reason := url_problem(value)) is not None:
        raise InvalidInput(reason, field=field)
