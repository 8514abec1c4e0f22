"""The per-user token bucket, with an explicit clock."""

from __future__ import annotations

from gateway.ratelimit import RateLimiter


def test_burst_then_rate() -> None:
    limiter = RateLimiter(rate=2.0, burst=3)
    assert [limiter.allow(1, 0.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.allow(2, 0.0)  # users do not share buckets
    assert not limiter.allow(1, 0.4)  # 0.8 of a token
    assert limiter.allow(1, 0.5)
    assert not limiter.allow(1, 0.5)


def test_refund_gives_back_one_token() -> None:
    limiter = RateLimiter(rate=1.0, burst=2)
    assert limiter.allow(7, 0.0) and limiter.allow(7, 0.0)
    assert not limiter.allow(7, 0.0)
    limiter.refund(7)
    assert limiter.allow(7, 0.0)
    limiter.refund(7)
    limiter.refund(7)
    limiter.refund(7)  # never above the burst
    assert [limiter.allow(7, 0.0) for _ in range(3)] == [True, True, False]


def test_forget_idle_drops_full_buckets_only() -> None:
    limiter = RateLimiter(rate=1.0, burst=2)
    limiter.allow(1, 0.0)
    limiter.allow(2, 9.0)
    limiter.forget_idle(10.0)
    assert set(limiter._buckets) == {2}
