"""Open311 service requests: a POSTed form as the intake's ``ReportInput``, and the GET
parameters as a ``ReportFilter``.

POST fields are the specification's: ``service_code``, ``lat``/``long`` (WGS-84 degrees, or
the crs configured on the caller's key: ``api_tokens.crs``), ``address_string``/``address_id``
(gridmap cannot geocode, so an address without ``lat``/``long`` is refused), ``description``,
``media_url`` (http/https; FixMyStreet repeats it for several photos), ``first_name``,
``last_name``, ``phone`` (stored as the reporter: personal data), ``email``, ``device_id``,
``account_id`` (accepted, not stored: there is nowhere they are needed), ``attribute[...]``,
``jurisdiction_id``, ``api_key``. Attributes gridmap reads: ``fixmystreet_id`` (the client's
own id: a retry with it files nothing new) and ``source`` (a ``ReportSource``, default
citizen); other attributes are accepted and not stored (no service defines any).
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.boundaries.generations import active_generation_id, valid_in
from geo.errors import InvalidInput, NotFound
from geo.instants import parse_bound
from geo.models import ApiToken, Area, AreaLevel, Report, ReportSource
from geo.open311.services import parse_service_code
from geo.reports.categories import BY_CODE, SUB_BY_CODE
from geo.reports.intake import ReportInput
from geo.text import check_text, check_url

SINGLE = ("service_code", "lat", "long", "address_string", "address_id", "description", "first_name", "last_name",
          "phone", "email", "device_id", "deviceid", "account_id", "jurisdiction_id", "api_key")
REPEATABLE = ("media_url",)
CLIENT_ID_ATTRIBUTE = "fixmystreet_id"
SOURCE_ATTRIBUTE = "source"
_ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]{1,64})\]$")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
MAX_FIELD_CHARS = 4000  # the spec's description limit; the city's own (2,000) applies on top

# The specification's defaults for GET requests.
WINDOW_DAYS = 90
MAX_RESULTS = 1000


@dataclass(frozen=True)
class PostedRequest:
    """A POSTed service request, parsed (before the intake's own rules)."""

    category: str
    subcategory: str
    lon: float
    lat: float
    description: str = ""
    media_urls: tuple[str, ...] = ()
    reporter_name: str | None = None
    phone: str | None = None
    source: ReportSource = ReportSource.citizen
    client_id: str | None = None  # attribute[fixmystreet_id]
    jurisdiction_id: str | None = None
    api_key: str | None = None
    ignored: tuple[str, ...] = field(default_factory=tuple)  # accepted fields gridmap does not store


def _number(raw: str, name: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a number (decimal degrees)", field=name) from None
    if not math.isfinite(value):
        raise InvalidInput(f"{name} must be a finite number", field=name)
    return value


def reporter_name(first: str | None, last: str | None) -> str | None:
    """One name from Open311's first/last: a Chinese name is written family name first and
    without a space (王 + 小明 → 王小明), others ``first last``."""
    first, last = (first or "").strip(), (last or "").strip()
    if not (first or last):
        return None
    if _CJK.search(first + last):
        return last + first
    return " ".join(p for p in (first, last) if p)


def parse_post(pairs: list[tuple[str, str]]) -> PostedRequest:
    """The fields of a POSTed form (in order, repeats kept) as a PostedRequest.

    Raises InvalidInput naming the field: an unknown or repeated field, a missing
    ``service_code``, an unknown one, ``lat``/``long`` missing (an address alone cannot be
    placed: gridmap does not geocode) or not numbers, a ``media_url`` that is not http(s)."""
    single: dict[str, str] = {}
    media: list[str] = []
    attributes: dict[str, str] = {}
    for key, value in pairs:
        check_text(key, field="form")
        check_text(value, field=key)
        if len(value) > MAX_FIELD_CHARS:
            raise InvalidInput(f"at most {MAX_FIELD_CHARS} characters", field=key)
        if key in REPEATABLE:
            if value.strip():
                media.append(value.strip())
            continue
        m = _ATTRIBUTE.match(key)
        if m:
            if m.group(1) in attributes:
                raise InvalidInput("sent more than once", field=key)
            attributes[m.group(1)] = value
            continue
        if key not in SINGLE:
            raise InvalidInput("not a field of a GeoReport v2 service request (service_code, lat, long, "
                               "address_string, attribute[...], description, media_url, first_name, last_name, "
                               "phone, email, device_id, account_id, jurisdiction_id, api_key)", field=key)
        if key in single:
            raise InvalidInput("sent more than once", field=key)
        single[key] = value
    if not single.get("service_code", "").strip():
        raise InvalidInput("is required: GET services.json lists the codes", field="service_code")
    category, subcategory = parse_service_code(single["service_code"])
    has_lat, has_long = bool(single.get("lat", "").strip()), bool(single.get("long", "").strip())
    if not (has_lat and has_long):
        if has_lat or has_long:
            missing = "long" if has_lat else "lat"
            raise InvalidInput("lat and long are needed together", field=missing)
        if single.get("address_string", "").strip() or single.get("address_id", "").strip():
            raise InvalidInput("lat and long are needed: gridmap places a request in its grid by its position and "
                               "cannot geocode an address (address_string/address_id)", field="lat")
        raise InvalidInput("lat and long are required (WGS-84 decimal degrees)", field="lat")
    for i, url in enumerate(media):
        check_url(url, field="media_url" if len(media) == 1 else f"media_url.{i}")
    source = ReportSource.citizen
    if SOURCE_ATTRIBUTE in attributes:
        try:
            source = ReportSource(attributes[SOURCE_ATTRIBUTE].strip())
        except ValueError:
            raise InvalidInput("one of " + ", ".join(s.value for s in ReportSource),
                               field=f"attribute[{SOURCE_ATTRIBUTE}]") from None
    client_id = attributes.get(CLIENT_ID_ATTRIBUTE, "").strip() or None
    if client_id is not None and len(client_id) > 200:
        raise InvalidInput("at most 200 characters", field=f"attribute[{CLIENT_ID_ATTRIBUTE}]")
    ignored = tuple(k for k in ("email", "device_id", "deviceid", "account_id", "address_string", "address_id")
                    if single.get(k)) + tuple(f"attribute[{a}]" for a in attributes
                                               if a not in (CLIENT_ID_ATTRIBUTE, SOURCE_ATTRIBUTE))
    return PostedRequest(
        category=category, subcategory=subcategory,
        lon=_number(single["long"], "long"), lat=_number(single["lat"], "lat"),
        description=single.get("description", "").strip(), media_urls=tuple(media),
        reporter_name=reporter_name(single.get("first_name"), single.get("last_name")),
        phone=single.get("phone", "").strip() or None, source=source, client_id=client_id,
        jurisdiction_id=single.get("jurisdiction_id", "").strip() or None,
        api_key=single.get("api_key", "").strip() or None, ignored=ignored,
    )


def key_crs(session: Session, *, token_id: int | None) -> str:
    """The crs the holder of token ``token_id`` sends positions in (``api_tokens.crs``;
    WGS-84 without a token or when none was set)."""
    if token_id is None:
        return "wgs84"
    return session.scalar(sa.select(ApiToken.crs).where(ApiToken.id == token_id)) or "wgs84"


def first_received(session: Session, *, report_id: uuid.UUID) -> datetime | None:
    """When report ``report_id`` was received, if it exists: a retry keeps that time, since
    Open311 sends none and the intake's fingerprint covers it."""
    return session.scalar(sa.select(Report.reported_at).where(Report.id == report_id))


def to_report_input(posted: PostedRequest, *, report_id: uuid.UUID | None, crs: str, received_at: datetime,
                    filed_by: str | None) -> ReportInput:
    """The intake's ReportInput for ``posted``: ``report_id`` from the client's id (or None:
    a new id), the position in ``crs``, received at ``received_at``. The intake's own rules
    (``validate_fields``) run when it is submitted."""
    return ReportInput(
        id=report_id, category=posted.category, subcategory=posted.subcategory, description=posted.description,
        source=posted.source, x=posted.lon, y=posted.lat, crs=crs, reported_at=received_at,
        reporter_name=posted.reporter_name, reporter_phone=posted.phone, photos=posted.media_urls,
        filed_by=filed_by,
    )


def jurisdiction(session: Session) -> str | None:
    """This service's ``jurisdiction_id``: the code of the city in the active generation
    (None when no city-level area is loaded)."""
    return session.scalar(sa.select(Area.code).where(Area.level == AreaLevel.city,
                                                     valid_in(Area, active_generation_id(session))).limit(1))


def check_jurisdiction(session: Session, *, value: str | None, city_name: str) -> None:
    """Raise NotFound unless ``value`` is absent, this city's code or its name."""
    if value is None:
        return
    code = jurisdiction(session)
    if value not in {code, city_name} - {None}:
        raise NotFound(f"jurisdiction_id {value!r} is not served here: use {code or city_name!r}",
                       jurisdiction_id=value)


def parse_ids(raw: str) -> tuple[uuid.UUID, ...]:
    """A comma list of service_request_id values. Raises InvalidInput (field service_request_id)."""
    out = []
    for part in raw.split(","):
        if not part.strip():
            continue
        try:
            out.append(uuid.UUID(part.strip()))
        except ValueError:
            raise InvalidInput(f"{part.strip()[:60]!r} is not a service_request_id of this service (a UUID)",
                               field="service_request_id") from None
    if len(out) > MAX_RESULTS:
        raise InvalidInput(f"at most {MAX_RESULTS} ids", field="service_request_id")
    return tuple(out)


def parse_service_filter(raw: str) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    """``service_code`` of GET requests (comma list) → (categories, subcategories): a 4-digit
    code is that subcategory, a 2-digit one a whole class. Raises InvalidInput."""
    cats: list[str] = []
    subs: list[str] = []
    for code in (c.strip() for c in raw.split(",") if c.strip()):
        if code in SUB_BY_CODE:
            subs.append(code)
        elif code in BY_CODE:
            cats.append(code)
        else:
            raise InvalidInput(f"unknown service_code {code!r}: GET services.json lists the codes", field="service_code")
    if cats and subs:  # either condition would drop the other's reports: a class takes its subcategories
        subs += [s.code for c in cats for s in BY_CODE[c].subcategories]
        cats = []
    return (tuple(cats) or None), (tuple(subs) or None)


def request_window(start: str | None, end: str | None, *, tz: tzinfo, now: datetime) -> tuple[datetime, datetime]:
    """``start_date``/``end_date`` as the spec has them: W3C date-times (or dates, the city's
    day); missing, the window is the 90 days up to ``end_date`` (or now), and it may not span
    more. Raises InvalidInput naming the field."""
    since = parse_bound(start, field="start_date", tz=tz) if start else None
    until = parse_bound(end, field="end_date", tz=tz) if end else None
    if until is None:
        until = max(now, since + timedelta(microseconds=1)) if since is not None else now
        if since is not None and until - since > timedelta(days=WINDOW_DAYS):
            until = since + timedelta(days=WINDOW_DAYS)
    if since is None:
        since = until - timedelta(days=WINDOW_DAYS)
    if since >= until:
        raise InvalidInput("must come before end_date", field="start_date")
    if until - since > timedelta(days=WINDOW_DAYS):
        raise InvalidInput(f"start_date and end_date may not span more than {WINDOW_DAYS} days", field="end_date")
    return since, until


def area_names(session: Session, *, codes: set[tuple[int, str]]) -> dict[int, dict[str, str]]:
    """Names of the areas a page of requests names: generation → code → name, for the
    (generation, code) pairs asked (each report's areas in the generation it was matched under)."""
    by_gen: dict[int, set[str]] = {}
    for gen, code in codes:
        by_gen.setdefault(gen, set()).add(code)
    out: dict[int, dict[str, str]] = {}
    for gen, group in by_gen.items():
        rows = session.execute(sa.select(Area.code, Area.name).where(Area.code.in_(sorted(group)), valid_in(Area, gen)))
        out[gen] = {code: name for code, name in rows}
    return out
