"""Per-client budgets: 429 with Retry-After, keyed by token or by the client address (from
a trusted proxy's header only), held across server processes through the database."""

from __future__ import annotations

import asyncio

import pytest

from api.ratelimit import RateLimiter, RateLimitSettings, client_address
from geo.access.roles import Principal, Role
from tests.api.report_helpers import body
from tests.conftest import STAFF


@pytest.fixture()
def limited(client):
    """The test client with a budget of 5 cost units per window for the public."""
    limiter = client.app.state.rate_limiter
    limiter.settings = RateLimitSettings(public=5, staff=50, window_s=3600)
    limiter._window = -1
    return client


def test_the_public_gets_429_with_retry_after(limited, tiny):
    codes = [limited.get("/api/v1/categories").status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    r = limited.get("/api/v1/categories")
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert r.json()["error"]["code"] == "rate_limited"
    # A staff token has its own, larger budget; assets and health never count.
    assert limited.get("/api/v1/categories", headers=STAFF).status_code == 200
    assert limited.get("/healthz").status_code == 200


def test_expensive_requests_cost_more(limited, tiny):
    assert limited.get("/api/v1/stats").status_code == 429  # 10 units > a budget of 5
    assert limited.get("/api/v1/stats", headers=STAFF).status_code == 200


def test_intake_is_limited_too(limited, tiny):
    codes = [limited.post("/api/v1/reports", json=body()).status_code for _ in range(6)]
    assert codes == [201] * 5 + [429]


def test_client_address_comes_from_a_trusted_proxy_only():
    settings = RateLimitSettings(trusted_proxies="10.0.0.0/8")
    nets = settings.networks()
    via_gateway = {"client": ("10.1.2.3", 1), "headers": [(b"x-forwarded-for", b"6.6.6.6, 203.0.113.9, 10.0.0.7")]}
    assert client_address(via_gateway, settings, nets) == "203.0.113.9"  # the rightmost untrusted hop
    direct = {"client": ("198.51.100.1", 1), "headers": [(b"x-forwarded-for", b"1.2.3.4")]}
    assert client_address(direct, settings, nets) == "198.51.100.1"  # anyone else's header is ignored
    with pytest.raises(ValueError):
        RateLimitSettings(trusted_proxies="not-an-address")


def test_keys_separate_token_holders_from_addresses():
    limiter = RateLimiter(RateLimitSettings())
    scope = {"client": ("192.0.2.1", 1), "headers": []}
    assert limiter.key(scope, Principal(Role.public)) == "ip:192.0.2.1"
    assert limiter.key(scope, Principal(Role.system, holder="system hotline", token_id=7, system="h")) == "t:7"
    assert limiter.budget(Principal(Role.system, token_id=7, system="h")) > limiter.budget(Principal(Role.public))


def test_the_budget_holds_across_processes(engine, small_city):
    """Two limiters (two server processes) share one budget through the database."""
    from geo.db import make_sessionmaker

    settings = RateLimitSettings(public=10, window_s=3600)
    a, b = (RateLimiter(settings, make_sessionmaker(engine)) for _ in range(2))
    key = "ip:test-across-processes"

    async def run():
        for _ in range(8):
            assert a.check(key, cost=1, budget=10) is None
        await a.sync()
        allowed = 0
        for _ in range(2):  # b has not synced yet: it counts locally
            allowed += b.check(key, cost=1, budget=10) is None
        await b.sync()  # ... and learns the total: 8 + 2
        more = [b.check(key, cost=1, budget=10) for _ in range(3)]
        await a.sync()
        return allowed, more

    allowed, more = asyncio.run(run())
    assert allowed == 2 and all(m is not None for m in more), "ten in all, across both processes"


def test_guessing_tokens_costs_the_address(limited, tiny):
    import secrets

    codes = [limited.get("/api/v1/categories", headers={"Authorization": f"Bearer gm_{secrets.token_urlsafe(32)}"}
                         ).status_code for _ in range(4)]
    assert codes[:2] == [401, 401] and 429 in codes  # each guess costs a lookup and a refusal
