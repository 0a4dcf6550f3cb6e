"""Per-client rate and cost limits, held across server processes.

Each client (a token's holder; without a token, the client address, taken from a
configured trusted proxy's header when the request came through it) has a budget of cost
units per fixed window (60 s). Most requests cost 1; the ones that aggregate a window of
reports (hot-spot pages and downloads, stats, the embed, the command centre) cost more.
Over budget: 429 with Retry-After. Staff and system keys have their own, higher budgets.

Processes share the counts through an UNLOGGED PostgreSQL table: each process counts
locally and every ``sync_interval_s`` adds its counts in one statement, getting back every
process's total. A decision uses the last total plus what this process counted since, so
across N processes a client can overshoot by at most what it sends in one interval.
Counting costs no database work on the request path.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections import defaultdict

import sqlalchemy as sa
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from geo.access.roles import Principal, Role
from geo.models import RateCounter

log = logging.getLogger("gridmap.ratelimit")

# Cost units of the requests that aggregate a window of reports (measured: a full-history
# hot-spot map took 12.6 s, stats from 2000 1.3 s; a plain read takes milliseconds).
EXPENSIVE = {
    "/maps/hotspots": 20, "/maps/hotspots.csv": 20, "/maps/hotspots.geojson": 20, "/maps/command-center": 10,
    "/embed/hotspots": 5, "/api/v1/stats": 10, "/api/v1/reports/batch": 10,
}
EXEMPT_PREFIXES = ("/assets/", "/healthz", "/static/", "/docs", "/openapi.json")


class RateLimitSettings(BaseSettings):
    """``GRIDMAP_RATE_*``: budgets in cost units per window, per client."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_RATE_", env_file=".env", extra="ignore")

    enabled: bool = True
    window_s: int = Field(60, ge=1, le=3600)
    public: int = Field(600, ge=1, description="Budget of an anonymous client address (or a reporter).")
    staff: int = Field(12_000, ge=1, description="Budget of a staff token.")
    system: int = Field(600_000, ge=1, description="Budget of a system key (a 12345 hotline, a bench).")
    trusted_proxies: str = Field(
        "", description="Comma-separated addresses/CIDRs of the city gateway; only from these is the client "
                        "address header believed.")
    client_ip_header: str = Field("x-forwarded-for", description="Header carrying the client address.")
    sync_interval_s: float = Field(0.5, gt=0, le=60)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in filter(None, (p.strip() for p in value.split(","))):
            ipaddress.ip_network(part, strict=False)
        return value

    def networks(self) -> list:
        return [ipaddress.ip_network(p.strip(), strict=False) for p in self.trusted_proxies.split(",") if p.strip()]


def _trusted(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in networks)


def client_address(scope: Scope, settings: RateLimitSettings, networks) -> str:
    """The client's address: the peer, or when the peer is a trusted proxy the rightmost
    address in its header that is not itself a trusted proxy (the left part is the client's
    to forge)."""
    peer = (scope.get("client") or ("unknown", 0))[0]
    if not networks or not _trusted(peer, networks):
        return peer
    name = settings.client_ip_header.lower().encode()
    values = [v.decode("latin-1") for k, v in scope.get("headers") or () if k == name]
    hops = [h.strip() for v in values for h in v.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop
    return peer


class RateLimiter:
    def __init__(self, settings: RateLimitSettings, sessionmaker=None, clock=time.time) -> None:
        self.settings = settings
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._networks = settings.networks()
        self._window = -1
        self._local: dict[str, int] = defaultdict(int)  # counted here, not yet flushed
        self._pending: dict[str, int] = {}  # being flushed: still counts until the totals arrive
        self._global: dict[str, int] = {}  # every process's total at the last flush
        self._task: asyncio.Task | None = None

    def budget(self, principal: Principal) -> int:
        if principal.role == Role.system:
            return self.settings.system
        if principal.staff:
            return self.settings.staff
        return self.settings.public

    def key(self, scope: Scope, principal: Principal) -> str:
        if principal.token_id is not None or principal.staff or principal.role == Role.system:
            return f"t:{principal.token_id or principal.holder}"[:128]
        return f"ip:{client_address(scope, self.settings, self._networks)}"[:128]

    def _roll(self, now: float) -> int:
        window = int(now // self.settings.window_s) * self.settings.window_s
        if window != self._window:
            self._window, self._local, self._global, self._pending = window, defaultdict(int), {}, {}
        return window

    def admit(self, scope: Scope, principal: Principal) -> float | None:
        """Count this request; None when it may go on, else seconds until the budget renews."""
        if not self.settings.enabled or scope["path"].startswith(EXEMPT_PREFIXES):
            return None
        return self.check(self.key(scope, principal), cost=request_cost(scope["path"]), budget=self.budget(principal))

    def check(self, key: str, *, cost: int, budget: int) -> float | None:
        """Count ``cost`` for ``key``; None when allowed, else seconds until the window resets."""
        now = self._clock()
        window = self._roll(now)
        used = self._global.get(key, 0) + self._pending.get(key, 0) + self._local[key]
        if used + cost > budget:
            return max(1.0, window + self.settings.window_s - now)
        self._local[key] += cost
        return None

    async def sync(self) -> None:
        """Add this process's counts to the shared table and read back the totals."""
        if self._sessionmaker is None or not self._local:
            return
        window, batch = self._window, dict(self._local)
        self._local, self._pending = defaultdict(int), batch
        try:
            totals = await run_in_threadpool(self._flush, window, batch)
        except Exception:  # noqa: BLE001 - the database is away: keep counting here
            log.warning("rate counters not shared this round (database unavailable)", exc_info=True)
            if window == self._window:  # a window that has rolled over starts from nothing
                for k, v in batch.items():
                    self._local[k] += v
                self._pending = {}
            return
        if window == self._window:
            self._global.update(totals)  # they include the batch just flushed
            self._pending = {}

    def _flush(self, window: int, batch: dict[str, int]) -> dict[str, int]:
        keys, used = list(batch), [batch[k] for k in batch]
        src = sa.select(sa.func.unnest(sa.bindparam("keys", type_=ARRAY(sa.String))).label("key"),
                        sa.func.unnest(sa.bindparam("used", type_=ARRAY(sa.BigInteger))).label("used")).subquery("src")
        table = RateCounter.__table__
        ins = pg_insert(table).from_select(
            ["key", "used", "window_start"], sa.select(src.c.key, src.c.used, sa.literal(window, sa.BigInteger)))
        ins = ins.on_conflict_do_update(index_elements=[table.c.key, table.c.window_start],
                                        set_={"used": table.c.used + ins.excluded.used})
        with self._sessionmaker() as session:
            out = dict(session.execute(ins.returning(table.c.key, table.c.used),
                                       {"keys": keys, "used": used}).all())
            if window % (self.settings.window_s * 10) == 0:  # now and then, forget old windows
                session.execute(sa.delete(table).where(table.c.window_start < window - self.settings.window_s))
            session.commit()
        return out

    async def start(self) -> None:
        if self._sessionmaker is not None:
            self._task = asyncio.create_task(self._sync_forever(), name="rate-sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _sync_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sync_interval_s)
            await self.sync()


def request_cost(path: str) -> int:
    return EXPENSIVE.get(path, 1)
