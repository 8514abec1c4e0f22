"""A push service of the test's own (RFC 8030's push resource), on a free 127.0.0.1 port: it
receives what Linli's push sender POSTs, checks it the way a real one does — the VAPID token
(RFC 8292: an ES256 JWT signed by the key in ``k``, audience this origin, expiry in the future
and within 24 hours, a subject) — and then, unlike a real one, decrypts the payload as the
device would (RFC 8291 ``aes128gcm``, with ``http_ece`` and the device's private key), so a test
can check what the phone would show.

Devices are made here: each is a P-256 key pair and 16 random auth bytes, like a browser's, with
an endpoint on this service; a device can be told what to answer (``answers``: 500 then 201...).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import http_ece
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from multidict import CIMultiDict

from tests.conftest import free_port


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Device:
    """A browser's push subscription: what ``PushSubscription.toJSON()`` gives, and the private
    half only the device has."""

    name: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    #: Statuses to answer, one per push, then 201 (or ``then`` for ever).
    answers: list[int] = field(default_factory=list)
    then: int = 201
    retry_after: str | None = None

    @property
    def p256dh(self) -> str:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(point)

    def subscription(self, label: str) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": b64url(self.auth)},
            "label": label,
        }

    def next_answer(self) -> int:
        return self.answers.pop(0) if self.answers else self.then


@dataclass
class Received:
    """One push as the service got it, checked and decrypted."""

    device: str
    status: int  # what the service answered
    headers: Mapping[str, str]  # names in any case, as HTTP has them
    claims: dict[str, Any]
    public_key: str  # the ``k`` of the Authorization header
    payload: dict[str, Any]
    at: float


class PushService:
    def __init__(self, now: Callable[[], float] = time.time) -> None:
        #: The clock the token's expiry is checked against (seconds): the test's, when the
        #: sender runs on a manual clock.
        self.now = now
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.devices: dict[str, Device] = {}
        self.received: list[Received] = []
        #: Every request refused and why: a test asserts it stays empty.
        self.refused: list[str] = []
        self._runner: web.AppRunner | None = None
        self.arrived = asyncio.Event()

    async def start(self) -> PushService:
        app = web.Application()
        app.router.add_post("/push/{device}", self._push)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> PushService:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def device(self, name: str, *answers: int, then: int = 201, retry_after: str | None = None):
        device = Device(
            name=name,
            endpoint=f"{self.origin}/push/{name}-{os.urandom(6).hex()}",
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth=os.urandom(16),
            answers=list(answers),
            then=then,
            retry_after=retry_after,
        )
        self.devices[device.endpoint.rsplit("/", 1)[1]] = device
        return device

    def pushes(self, device: Device) -> list[Received]:
        return [r for r in self.received if r.device == device.name]

    async def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        """Until ``count`` pushes arrived in all (or fail, naming what did)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.received) < count:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(
                    f"{len(self.received)} of {count} pushes arrived; refused: {self.refused}"
                )
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), remaining)
            except TimeoutError:
                continue
        return self.received

    # -- the push resource -------------------------------------------------------------------

    def _refuse(self, status: int, why: str) -> web.Response:
        self.refused.append(why)
        self.arrived.set()
        return web.Response(status=status, text=why)

    def _verify_vapid(self, authorization: str) -> tuple[dict[str, Any], str]:
        """RFC 8292 §3: ``vapid t=<JWT>, k=<public key>``; the claims, and ``k``."""
        scheme, _, params = authorization.partition(" ")
        if scheme.lower() != "vapid":
            raise ValueError(f"Authorization scheme {scheme!r}, expected vapid")
        parts = dict(p.strip().split("=", 1) for p in params.split(","))
        token, key = parts["t"], parts["k"]
        signing_input, _, signature = token.rpartition(".")
        header_b64, _, claims_b64 = signing_input.partition(".")
        header = json.loads(b64url_decode(header_b64))
        if header.get("alg") != "ES256":
            raise ValueError(f"JWT alg {header.get('alg')!r}, expected ES256")
        raw_signature = b64url_decode(signature)
        if len(raw_signature) != 64:
            raise ValueError("ES256 signature is not 64 bytes")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
        der = encode_dss_signature(
            int.from_bytes(raw_signature[:32], "big"), int.from_bytes(raw_signature[32:], "big")
        )
        try:
            public.verify(der, signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise ValueError("the JWT's signature does not verify with k") from None
        claims = json.loads(b64url_decode(claims_b64))
        if claims.get("aud") != self.origin:
            raise ValueError(f"aud {claims.get('aud')!r}, expected {self.origin!r}")
        now = self.now()
        if not now < claims["exp"] <= now + 86_400:
            raise ValueError(f"exp {claims['exp']} not within 24 h of {now:.0f}")
        if not str(claims.get("sub", "")).startswith(("mailto:", "https://")):
            raise ValueError(f"sub {claims.get('sub')!r}")
        return claims, key

    async def _push(self, request: web.Request) -> web.Response:
        device = self.devices.get(request.match_info["device"])
        if device is None:
            return self._refuse(404, f"no device {request.match_info['device']}")
        try:
            claims, key = self._verify_vapid(request.headers.get("Authorization", ""))
        except (ValueError, KeyError) as exc:
            return self._refuse(401, f"VAPID: {exc}")
        if request.headers.get("Content-Encoding") != "aes128gcm":
            return self._refuse(415, f"Content-Encoding {request.headers.get('Content-Encoding')}")
        if not request.headers.get("TTL", "").isdigit():
            return self._refuse(400, "TTL missing")
        body = await request.read()
        if len(body) > 4096:
            return self._refuse(413, f"{len(body)} bytes")
        try:
            plain = http_ece.decrypt(
                body, private_key=device.private_key, auth_secret=device.auth, version="aes128gcm"
            )
            payload = json.loads(plain)
        except (http_ece.ECEException, ValueError) as exc:
            return self._refuse(400, f"cannot decrypt: {exc}")
        status = device.next_answer()
        self.received.append(
            Received(
                device=device.name,
                status=status,
                headers=CIMultiDict(request.headers),
                claims=claims,
                public_key=key,
                payload=payload,
                at=time.monotonic(),
            )
        )
        self.arrived.set()
        headers = {}
        if status >= 300 and device.retry_after is not None:
            headers["Retry-After"] = device.retry_after
        if status == 201:
            headers["Location"] = f"{self.origin}/message/{len(self.received)}"
        return web.Response(status=status, headers=headers)
