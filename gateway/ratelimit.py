"""Per-user publish rate limits: a token bucket per user in each gateway process.

Per process rather than cluster-wide: a user's connections usually land on one gateway, a
cluster-wide bucket would put a Redis round trip on every publish, and the limit exists to stop
floods, which a per-process bucket does.
"""

from __future__ import annotations

from linli.types import UserId


class RateLimiter:
    def __init__(self, rate: float, burst: int) -> None:
        """``rate`` tokens per second refill each user's bucket, which holds at most ``burst``."""
        self.rate = rate
        self.burst = burst
        self._buckets: dict[UserId, tuple[float, float]] = {}  # user -> (tokens, at)

    def allow(self, user_id: UserId, now: float) -> bool:
        tokens, at = self._buckets.get(user_id, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        if tokens < 1.0:
            self._buckets[user_id] = (tokens, now)
            return False
        self._buckets[user_id] = (tokens - 1.0, now)
        return True

    def refund(self, user_id: UserId) -> None:
        """Give back the token the last ``allow`` took."""
        bucket = self._buckets.get(user_id)
        if bucket is not None:
            tokens, at = bucket
            self._buckets[user_id] = (min(float(self.burst), tokens + 1.0), at)

    def forget_idle(self, now: float) -> None:
        """Drop buckets that have refilled completely: they carry no information."""
        full_after = self.burst / self.rate if self.rate > 0 else float("inf")
        for user_id in [u for u, (_, at) in self._buckets.items() if now - at >= full_after]:
            del self._buckets[user_id]
