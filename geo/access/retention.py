"""Retention of personal data (个人信息保护法: kept no longer than its purpose needs).

- A reporter's name and phone are removed ``[retention] reporter_days`` (default 180) after
  their case ended: closed (``closed_at``), or rejected or marked a duplicate (the ``at`` of the
  trail event that moved it there: ``updated_at`` moves with every later write, a photo, a
  rating or this job itself, so it is only the fallback of a case without that event). Open
  and resolved (not yet verified) cases keep theirs. The request fingerprint
  (``request_hash``, a sha256 over the body including the phone, which the remaining fields
  would let anyone brute-force back) goes with them; a retry of the original intake then
  answers 409 instead of replaying, long after any client retries.
- ``forget_reporter``: one reporter's request to delete their data: every case with that
  phone, whatever its status, loses name, phone and fingerprint, and the number is cut out
  of those cases' descriptions and rating comments.
- ``purge_audit``: audit rows older than ``[retention] audit_days`` are deleted, through the
  one door the append-only trigger leaves open (migration 0018).

What stays: every other column, so every count, rate and statistic is unchanged, and the
case trail (``report_events``, append-only), whose event data never held the reporter (the
register event keeps the match, grid and crs). Nowhere else holds a reporter's phone: webhook
deliveries store no payload (it is built at send time, without the reporter: see
``geo.webhooks.payload``), exports are streamed, not cached, the map page cache holds
aggregates only, and audit details hold report ids and export filters, never the reporter.

Each job works in batches that commit one after another (a million rows never sit in one
transaction or one lock), each batch with its own audit row. The audit of a forget request
names the cases and how many, never the phone.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.access.audit import record_audit
from geo.access.roles import Principal, Role
from geo.cityconfig import CityConfig
from geo.errors import InvalidInput
from geo.models import AuditEvent, Report, ReportEvent, ReportStatus

S = ReportStatus
ENDED = (S.closed, S.rejected, S.duplicate)
RETENTION_JOB = Principal(Role.system, holder="system:retention")
BATCH = 2000
# The transaction-local setting the audit trigger reads (migration 0018).
AUDIT_CUTOFF_SETTING = "gridmap.audit_retention_cutoff"
REMOVED = "[已删除]"  # what a forgotten number is replaced by inside free text


def ended_at():
    """SQL: when a case ended (see the module docstring); NULL for a case still open."""
    entered = (
        sa.select(sa.func.max(ReportEvent.at))
        .where(ReportEvent.report_id == Report.id,
               ReportEvent.to_status == sa.type_coerce(Report.status, sa.String),
               ReportEvent.from_status.is_distinct_from(ReportEvent.to_status))
        .scalar_subquery()
    )
    return sa.case(
        (Report.status == S.closed, sa.func.coalesce(Report.closed_at, entered, Report.updated_at)),
        (Report.status.in_((S.rejected, S.duplicate)), sa.func.coalesce(entered, Report.updated_at)),
        else_=None,
    )


def _has_reporter():
    return sa.or_(Report.reporter_name.is_not(None), Report.reporter_phone.is_not(None))


def _anonymisable(cutoff: datetime):
    return sa.and_(Report.status.in_(ENDED), _has_reporter(), ended_at() < cutoff)


@dataclass
class Anonymisation:
    """What ``anonymise`` found (``by_status``: cases due, per status) and did (``done``)."""

    cutoff: datetime
    by_status: dict[str, int]
    applied: bool
    done: int = 0
    finished: bool = True  # False: stopped at ``max_rows`` with cases still due

    @property
    def due(self) -> int:
        return sum(self.by_status.values())


def reporter_cutoff(*, config: CityConfig, now: datetime) -> datetime:
    """Cases that ended before this instant lose their reporter's name and phone."""
    return now - timedelta(days=config.retention.reporter_days)


def anonymise(session: Session, *, config: CityConfig, now: datetime, apply: bool = False,
              actor: Principal = RETENTION_JOB, batch: int = BATCH, max_rows: int | None = None,
              progress: Callable[[int], None] | None = None) -> Anonymisation:
    """Remove the reporter's name, phone and request fingerprint from every case that ended
    more than ``reporter_days`` before ``now``.

    Without ``apply``, a dry run: counts what is due (per status) and changes nothing. With it,
    works in batches of ``batch`` cases (keyset over the id, rows locked by others skipped and
    left for the next run), COMMITTING each batch with one audit row (``privacy.anonymise``:
    how many, the cutoff); stops after ``max_rows`` (``finished`` False). ``progress`` gets the
    cases done so far after each batch."""
    cutoff = reporter_cutoff(config=config, now=now)
    counts = dict(session.execute(
        sa.select(Report.status, sa.func.count()).where(_anonymisable(cutoff)).group_by(Report.status)).all())
    result = Anonymisation(cutoff, {s.value: counts.get(s, 0) for s in ENDED if counts.get(s)}, applied=apply)
    if not apply:
        return result
    last: uuid.UUID | None = None
    while max_rows is None or result.done < max_rows:
        size = batch if max_rows is None else min(batch, max_rows - result.done)
        ids = list(session.scalars(
            sa.select(Report.id)
            .where(_anonymisable(cutoff), *([Report.id > last] if last is not None else []))
            .order_by(Report.id).limit(size).with_for_update(skip_locked=True)))
        if not ids:
            break
        last = ids[-1]
        session.execute(sa.update(Report).where(Report.id.in_(ids))
                        .values(reporter_name=None, reporter_phone=None, request_hash=None)
                        .execution_options(synchronize_session=False))
        record_audit(session, actor=actor, action="privacy.anonymise", subject_type="report",
                     detail={"cases": len(ids), "cutoff": cutoff.isoformat(),
                             "reporter_days": config.retention.reporter_days})
        session.commit()
        result.done += len(ids)
        if progress is not None:
            progress(result.done)
    else:
        result.finished = session.scalar(sa.select(sa.exists().where(_anonymisable(cutoff)))) is False
    return result


def phone_digits(phone: str) -> set[str]:
    """The forms a stored phone is matched in: its digits, with and without China's country
    code (86). Raises InvalidInput (field ``phone``) for fewer than 5 digits."""
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) < 5:
        raise InvalidInput("give the reporter's phone number (at least 5 digits)", field="phone")
    forms = {digits}
    if digits.startswith("86") and len(digits) == 13:
        forms.add(digits[2:])
    elif len(digits) == 11:
        forms.add("86" + digits)
    return forms


@dataclass
class Forgetting:
    """A forget request's cases (``report_ids``), per status, and what else mentions the number:
    ``texts``: cases whose description or rating comment held it (cut out when applied);
    ``trail_notes``: trail notes that hold it (the trail is append-only: kept, for a person to
    judge)."""

    report_ids: list[uuid.UUID]
    by_status: dict[str, int]
    applied: bool
    texts: int = 0
    trail_notes: list[int] = field(default_factory=list)


def forget_reporter(session: Session, *, phone: str, actor: Principal, now: datetime,
                    apply: bool = False) -> Forgetting:
    """Delete one reporter's data on request: every case whose reporter phone is ``phone``
    (digits compared, ``+86`` or not), in any status, loses name, phone and fingerprint; the
    number (as stored and as digits) is replaced by ``[已删除]`` in those cases' descriptions
    and rating comments. Without ``apply`` a dry run. Applied, recorded in the audit
    (``privacy.forget``: the case ids and count, never the phone) in the same transaction,
    which the caller commits. Raises InvalidInput (field ``phone``)."""
    forms = phone_digits(phone)
    matches = sa.func.regexp_replace(Report.reporter_phone, r"\D", "", "g").in_(sorted(forms))
    rows = session.execute(
        sa.select(Report.id, Report.status, Report.reporter_phone).where(matches).order_by(Report.id)
        .with_for_update()).all()
    ids = [r.id for r in rows]
    by_status: dict[str, int] = {}
    for r in rows:
        by_status[r.status.value] = by_status.get(r.status.value, 0) + 1
    needles = sorted({r.reporter_phone for r in rows} | forms, key=len, reverse=True)
    mentions = [sa.or_(*[col.contains(n, autoescape=True) for n in needles]) for col in
                (Report.description, Report.rating_comment)] if ids else []
    texts = session.scalar(sa.select(sa.func.count()).where(Report.id.in_(ids), sa.or_(*mentions))) if ids else 0
    notes = list(session.scalars(sa.select(ReportEvent.id).where(
        ReportEvent.report_id.in_(ids), sa.or_(*[ReportEvent.note.contains(n, autoescape=True) for n in needles]))
        .order_by(ReportEvent.id))) if ids else []
    result = Forgetting(ids, by_status, applied=apply, texts=texts or 0, trail_notes=notes)
    if not apply or not ids:
        return result
    description, comment = Report.description, Report.rating_comment
    for n in needles:  # longest first: "+86 138…" goes before the bare digits inside it
        description, comment = sa.func.replace(description, n, REMOVED), sa.func.replace(comment, n, REMOVED)
    session.execute(sa.update(Report).where(Report.id.in_(ids)).values(
        reporter_name=None, reporter_phone=None, request_hash=None, description=description,
        rating_comment=comment).execution_options(synchronize_session=False))
    record_audit(session, actor=actor, action="privacy.forget", subject_type="report",
                 subject_id=ids[0] if len(ids) == 1 else None,
                 detail={"cases": len(ids), "report_ids": [str(i) for i in ids], "texts": result.texts,
                         "trail_notes": notes, "at": now.isoformat()})
    return result


def audit_cutoff(*, config: CityConfig, now: datetime) -> datetime:
    """Audit rows written before this instant are past retention."""
    return now - timedelta(days=config.retention.audit_days)


@dataclass
class AuditPurge:
    cutoff: datetime
    due: int
    applied: bool
    deleted: int = 0
    finished: bool = True


def purge_audit(session: Session, *, config: CityConfig, now: datetime, apply: bool = False,
                actor: Principal = RETENTION_JOB, batch: int = 5000, max_rows: int | None = None,
                progress: Callable[[int], None] | None = None) -> AuditPurge:
    """Delete audit rows older than ``audit_days`` (at least 30). Without ``apply`` a dry run
    (counts them). With it, in batches of ``batch``, each COMMITTED: each transaction declares
    the cutoff (``SET LOCAL gridmap.audit_retention_cutoff``), the only DELETE the append-only
    trigger lets through, and only of rows older than it (migration 0018). One audit row
    (``audit.purge``) records how many went and the cutoff."""
    cutoff = audit_cutoff(config=config, now=now)
    old = AuditEvent.at < cutoff
    result = AuditPurge(cutoff, session.scalar(sa.select(sa.func.count()).where(old)) or 0, applied=apply)
    if not apply or not result.due:
        return result
    while max_rows is None or result.deleted < max_rows:
        size = batch if max_rows is None else min(batch, max_rows - result.deleted)
        session.execute(sa.select(sa.func.set_config(AUDIT_CUTOFF_SETTING, cutoff.isoformat(), True)))
        doomed = sa.select(AuditEvent.id).where(old).order_by(AuditEvent.id).limit(size).scalar_subquery()
        gone = session.execute(sa.delete(AuditEvent).where(AuditEvent.id.in_(doomed))
                               .execution_options(synchronize_session=False)).rowcount
        session.commit()
        if not gone:
            break
        result.deleted += gone
        if progress is not None:
            progress(result.deleted)
    else:
        result.finished = session.scalar(sa.select(sa.exists().where(old))) is False
    if result.deleted:
        record_audit(session, actor=actor, action="audit.purge", subject_type="audit",
                     detail={"deleted": result.deleted, "cutoff": cutoff.isoformat(),
                             "audit_days": config.retention.audit_days})
        session.commit()
    return result


@dataclass
class RetentionRun:
    anonymised: int
    audit_deleted: int
    finished: bool  # False: rows are still due (the periodic job comes back on its next tick)


def run_retention(session: Session, *, config: CityConfig, now: datetime, max_rows: int = 20_000) -> RetentionRun:
    """The periodic job (the server's loop): anonymise due reporters, then purge old audit
    rows, at most ``max_rows`` of each per call so the loop's other work is not held up by
    a first run over years of history. Commits as it goes."""
    a = anonymise(session, config=config, now=now, apply=True, max_rows=max_rows)
    p = purge_audit(session, config=config, now=now, apply=True, max_rows=max_rows)
    return RetentionRun(a.done, p.deleted, a.finished and p.finished)
