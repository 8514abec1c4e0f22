"""Issue 24: the documented production topology, end to end. Debian's nginx (started by the
test on a free port, with a certificate the test makes) terminates TLS in front of ``linli
serve`` run with ``LINLI_TRUSTED_PROXY_HOPS=1``; the nginx configuration is the block shipped in
``docs/operations.md``, read from there. Through the proxy: a Secure ``__Host-`` session cookie,
HSTS and the other security headers, the Origin check on HTTP and on ``/ws`` (routed to the
WebSocket server), and login throttling by the real client address, which a forged
``X-Forwarded-For`` does not change."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import IN_CI, free_port
from tests.e2e.harness import PASSWORD, Deployment, Server, running, seed

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(autouse=True)
def _nginx_installed() -> None:
    """Skipped without nginx, except under CI=true, whose .ci/run installs it: there, fail."""
    if shutil.which("nginx") is None:
        if IN_CI:
            pytest.fail("nginx is not installed (CI=true: .ci/run installs it)")
        pytest.skip("nginx is not installed (apt-get install nginx)")


OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
#: LINLI_LOGIN_MAX_FAILURES x web/throttle.py ADDRESS_FACTOR: failures one address may have free.
ADDRESS_FREE = 20


def shipped_config() -> str:
    """The ```nginx block of docs/operations.md."""
    blocks = re.findall(r"```nginx\n(.*?)```", OPERATIONS.read_text(), re.S)
    assert len(blocks) == 1, "docs/operations.md must ship exactly one nginx block"
    return str(blocks[0])


def make_certificate(where: Path) -> tuple[Path, Path]:
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
         "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@contextmanager
def nginx(server: Server, where: Path) -> Iterator[int]:
    """nginx with the shipped site configuration in front of ``server``; yields its https port."""
    cert, key = make_certificate(where)
    port = free_port()
    assert server.ws_port is not None
    site = shipped_config()
    for old, new in (
        ("127.0.0.1:8000", f"127.0.0.1:{server.port}"),
        ("127.0.0.1:8001", f"127.0.0.1:{server.ws_port}"),
        ("listen 443 ssl", f"listen 127.0.0.1:{port} ssl"),
        ("/etc/ssl/linli/fullchain.pem", str(cert)),
        ("/etc/ssl/linli/privkey.pem", str(key)),
    ):
        assert old in site, old
        site = site.replace(old, new)
    (where / "site.conf").write_text(site)
    temp = where / "temp"
    temp.mkdir()
    user = "user root;\n" if os.geteuid() == 0 else ""
    (where / "nginx.conf").write_text(
        f"{user}worker_processes 1;\npid {where}/nginx.pid;\nerror_log {where}/error.log;\n"
        "events { worker_connections 256; }\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {temp}/body;\n"
        f"  proxy_temp_path {temp}/proxy;\n  fastcgi_temp_path {temp}/fastcgi;\n"
        f"  uwsgi_temp_path {temp}/uwsgi;\n  scgi_temp_path {temp}/scgi;\n"
        f"  include {where}/site.conf;\n}}\n"
    )
    errors = where / "stderr.log"
    with errors.open("wb") as sink:
        proc = subprocess.Popen(
            ["nginx", "-p", str(where), "-c", str(where / "nginx.conf"), "-g", "daemon off;"],
            stderr=sink,
        )
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"nginx exited: {proc.stderr.read().decode() if proc.stderr else ''}"
                )
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not start")
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def tls(where: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(where / "cert.pem"))


@asynccontextmanager
async def proxied(deployment: Deployment) -> AsyncIterator[tuple[str, ssl.SSLContext]]:
    await seed(deployment)
    async with running(deployment, LINLI_TRUSTED_PROXY_HOPS="1") as server:
        where = deployment.tmp / "nginx"
        where.mkdir()
        with nginx(server, where) as port:
            yield f"https://127.0.0.1:{port}", tls(where)


async def test_cookies_headers_and_origin_through_nginx(deployment: Deployment) -> None:
    async with proxied(deployment) as (origin, context):
        async with httpx.AsyncClient(base_url=origin, verify=context, timeout=30) as http:
            page = await http.get("/login")
            assert page.status_code == 200
            assert page.headers["strict-transport-security"] == "max-age=31536000"
            assert "default-src 'self'" in page.headers["content-security-policy"]
            assert page.headers["x-content-type-options"] == "nosniff"
            assert page.headers["referrer-policy"] == "same-origin"
            # Another site's request is refused, whatever the proxy.
            evil = await http.post(
                "/api/login", json={"username": "ann", "password": PASSWORD},
                headers={"Origin": "https://evil.example"},
            )  # fmt: skip
            assert evil.status_code == 403, evil.text
            login = await http.post(
                "/api/login", json={"username": "ann", "password": PASSWORD},
                headers={"Origin": origin},
            )  # fmt: skip
            assert login.status_code == 200, login.text
            assert login.headers["strict-transport-security"] == "max-age=31536000"
            [session] = [c for c in login.headers.get_list("set-cookie") if "linli_session" in c]
            name, _, rest = session.partition("=")
            assert name == "__Host-linli_session"
            attributes = {a.strip().split("=")[0].lower() for a in rest.split(";")[1:]}
            assert {"secure", "httponly", "path"} <= attributes and "domain" not in attributes
            assert "path=/" in session.lower() and "samesite=lax" in session.lower()
            token = rest.split(";")[0]
            http.cookies.clear()
            me = await http.get("/api/me", headers={"Cookie": f"__Host-linli_session={token}"})
            assert me.status_code == 200 and "ann" in me.text, me.text
            # On https a plain cookie is not a session (a neighbour subdomain could plant one).
            plain = await http.get("/api/me", headers={"Cookie": f"linli_session={token}"})
            assert plain.status_code == 401

        ws_url = origin.replace("https://", "wss://") + "/ws"

        async def handshake(cookie: str, from_origin: str) -> int:
            try:
                async with connect(
                    ws_url, ssl=context, origin=from_origin,  # type: ignore[arg-type]
                    additional_headers={"Cookie": cookie}, subprotocols=["linli.v1.json"],  # type: ignore[list-item]
                    open_timeout=10,
                ) as ws:  # fmt: skip
                    await ws.send('{"id": 1, "op": "subscribe", "channel": "building:1"}')
                    reply = await asyncio.wait_for(ws.recv(), 10)
                    assert '"id":1' in str(reply).replace(" ", "")
                    return 101
            except InvalidStatus as exc:
                return exc.response.status_code

        assert await handshake(f"__Host-linli_session={token}", origin) == 101
        assert await handshake(f"__Host-linli_session={token}", "https://evil.example") == 403
        assert await handshake(f"linli_session={token}", origin) == 401


async def test_login_throttle_counts_the_real_address_through_nginx(
    deployment: Deployment,
) -> None:
    """Wrong passwords for as many different accounts, each with a different forged
    X-Forwarded-For: the address's free failures run out all the same."""
    async with proxied(deployment) as (origin, context):
        async with httpx.AsyncClient(base_url=origin, verify=context, timeout=60) as http:
            codes = []
            for i in range(ADDRESS_FREE + 1):
                response = await http.post(
                    "/api/login",
                    json={"username": f"nobody{i}", "password": "wrong"},
                    headers={"Origin": origin, "X-Forwarded-For": f"10.9.{i}.1"},
                )
                codes.append(response.status_code)
            assert codes[:ADDRESS_FREE] == [401] * ADDRESS_FREE, codes
            assert codes[-1] == 429, codes
