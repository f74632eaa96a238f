"""The deployment kit end to end: nginx with deploy/nginx/collab.conf (ports and paths
substituted) over TLS in front of two daphne processes started by deploy/daphne.sh with
production settings, on the tests' database and a Redis of this test's own.

Two people type in Chromium through nginx while each daphne is restarted in turn with
SIGTERM: nothing is lost, both converge, the pages show reconnecting and then saved;
/healthz through nginx answers 200, and 503 while Redis is down.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

from editor.domain import selectors
from tests.conftest import (
    REDIS_SERVER,
    ROOT,
    Daphne,
    RedisServer,
    closing_connections,
    free_port,
    other_sessions_ended,
    server_env,
    wait_listening,
)
from tests.waiting import eventually_async, threaded

from .conftest import open_editor, signed_in, wait_saved

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _require(path: str, package: str) -> None:
    if not os.access(path, os.X_OK):
        reason = f"{path} is missing (apt-get install {package})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"the deployment test cannot run under CI: {reason}")
        pytest.skip(reason)


class DeployedDaphne(Daphne):
    """A daphne process started the way systemd's collab@PORT starts it."""

    def start(self) -> DeployedDaphne:
        self.proc = subprocess.Popen(["bash", "deploy/daphne.sh", str(self.port)], cwd=ROOT, env=self.env)
        wait_listening(self.port, self.proc, "daphne")
        return self


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (cryptography comes with autobahn)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def site_config(*, daphnes, http_port, https_port, static_root, cert, key) -> str:
    """deploy/nginx/collab.conf with this test's ports and paths, and nothing else changed."""
    text = (ROOT / "deploy" / "nginx" / "collab.conf").read_text()
    replacements = [
        ("server 127.0.0.1:8001 ", f"server 127.0.0.1:{daphnes[0].port} "),
        ("server 127.0.0.1:8002 ", f"server 127.0.0.1:{daphnes[1].port} "),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("/etc/ssl/collab/fullchain.pem", str(cert)),
        ("/etc/ssl/collab/privkey.pem", str(key)),
        ("/srv/collab/staticfiles/", f"{static_root}/"),
    ]
    for old, new in replacements:
        assert text.count(old) == 1, f"deploy/nginx/collab.conf no longer has {old!r}"
        text = text.replace(old, new)
    # No IPv6 on the test machine's loopback is assumed.
    return "\n".join(line for line in text.splitlines() if "listen [::]" not in line) + "\n"


def start_nginx(workdir: Path, site: str, https_port: int) -> subprocess.Popen:
    (workdir / "site.conf").write_text(site)
    user = "user root;" if os.geteuid() == 0 else ""  # workers must read the temp directory
    (workdir / "nginx.conf").write_text(f"""
{user}
daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {workdir}/access.log;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    include {workdir}/site.conf;
}}
""")
    proc = subprocess.Popen(
        [NGINX, "-p", str(workdir), "-e", str(workdir / "error.log"), "-c", str(workdir / "nginx.conf")]
    )
    try:
        wait_listening(https_port, proc, "nginx")
    except (RuntimeError, AssertionError) as exc:
        raise RuntimeError(f"{exc}\n{(workdir / 'error.log').read_text()}") from None
    return proc


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


TLS = ssl.create_default_context()
TLS.check_hostname = False
TLS.verify_mode = ssl.CERT_NONE


def get(url: str) -> tuple[int, bytes, dict[str, str]]:
    """GET over TLS without verifying the test's own certificate."""
    try:
        with urllib.request.urlopen(url, timeout=20, context=TLS) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def direct_health(daphne: Daphne) -> int:
    """/healthz of one daphne on its own port (plain HTTP: probes are exempt from the
    redirect to HTTPS)."""
    try:
        with urllib.request.urlopen(f"{daphne.url}/healthz", timeout=20) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def open_sockets(daphne: Daphne) -> int:
    """collab_open_sockets of one process, from its /metrics (loopback may read it)."""
    with urllib.request.urlopen(f"{daphne.url}/metrics", timeout=20) as response:
        text = response.read().decode()
    found = re.search(r"^collab_open_sockets (\S+)$", text, re.MULTILINE)
    assert found is not None, "no collab_open_sockets in /metrics"
    return int(float(found.group(1)))


@dataclass
class Deployment:
    """The site as nginx serves it (``url``, over TLS; ``http_url``, redirected to it) and
    what stands behind nginx."""

    url: str
    http_url: str
    daphnes: list[DeployedDaphne]
    redis: RedisServer
    nginx_log: Path


@pytest.fixture
def deployment(transactional_db, tmp_path):
    """nginx, two daphne processes, and a Redis of the test's own; torn down in reverse."""
    _require(NGINX, "nginx")
    _require(REDIS_SERVER, "redis-server")
    redis = RedisServer(tmp_path).start()
    static_root = tmp_path / "static"
    env = {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,  # sessions signed in by the test stay valid
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_BEHIND_TLS_PROXY": "1",
        "REDIS_URL": redis.url,
        "COLLAB_REDIS_PREFIX": f"deploy-{redis.port}",
        "COLLAB_STATIC_ROOT": str(static_root),
        "COLLAB_SERVE_STATIC": "0",
        "COLLAB_HEALTH_TIMEOUT_SECONDS": "1",
        "COLLAB_DB_POOL_MAX_SIZE": "4",  # as deploy/collab.env.example (PostgreSQL only)
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=server_env(**env),
        check=True,
        timeout=120,
    )
    daphnes = [DeployedDaphne(**env), DeployedDaphne(**env)]
    nginx = None
    try:
        for daphne in daphnes:
            daphne.start()
        cert, key = self_signed_certificate(tmp_path)
        http_port, https_port = free_port(), free_port()
        site = site_config(
            daphnes=daphnes, http_port=http_port, https_port=https_port, static_root=static_root, cert=cert, key=key
        )
        nginx = start_nginx(tmp_path, site, https_port)
        yield Deployment(
            url=f"https://127.0.0.1:{https_port}",
            http_url=f"http://127.0.0.1:{http_port}",
            daphnes=daphnes,
            redis=redis,
            nginx_log=tmp_path / "error.log",
        )
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(timeout=10)
        for daphne in daphnes:
            daphne.stop()
        redis.stop()
        other_sessions_ended()


async def editor_page(browser, deployment: Deployment, user, document):
    """``user``'s editor page of ``document`` through nginx, recording every status shown."""
    context = await signed_in(browser, deployment, user, ignore_https_errors=True)
    page = await open_editor(context, deployment, document)
    await page.evaluate(
        """() => {
            const status = document.querySelector("#status");
            window.statesShown = [status.dataset.state];
            new MutationObserver(() => window.statesShown.push(status.dataset.state))
                .observe(status, {attributes: true, attributeFilter: ["data-state"]});
        }"""
    )
    return page


def shown_then_saved(states: list[str], wanted: set[str]) -> bool:
    """Whether one of ``wanted`` was shown, and "saved" after it, last."""
    firsts = [i for i, state in enumerate(states) if state in wanted]
    return bool(firsts) and "saved" in states[firsts[0] :] and states[-1] == "saved"


@closing_connections
async def test_rolling_restart_behind_nginx_loses_nothing(browser, deployment, shared_document):
    """Two people type through nginx while each daphne is restarted in turn with SIGTERM."""
    url, daphnes, redis = deployment.url, deployment.daphnes, deployment.redis
    ada, bob, document = shared_document("Rolling", "|middle|", ("ada", "bob"))

    # The page and its hashed modules come through nginx, cached for good.
    # Plain HTTP is redirected to TLS by nginx.
    request = urllib.request.Request(f"{deployment.http_url}/documents/{document.pk}/")
    with pytest.raises(urllib.error.HTTPError) as redirect:
        urllib.request.build_opener(NoRedirect).open(request, timeout=20)
    assert redirect.value.code == 301
    assert redirect.value.headers["Location"] == f"https://127.0.0.1/documents/{document.pk}/"
    ada_page = await editor_page(browser, deployment, ada, document)
    bob_page = await editor_page(browser, deployment, bob, document)
    # nginx hashes the document id: both people's sockets reach the same process.
    assert sorted(open_sockets(d) for d in daphnes) == [0, 2]
    script = await ada_page.get_attribute("script[type=module]", "src")
    assert re.fullmatch(r"/static/editor/editor\.[0-9a-f]{12}\.js", script)
    status, _, headers = get(url + script)
    assert status == 200 and "immutable" in headers["Cache-Control"]

    # Ada types at the end, Bob at the start, so the final text is known exactly.
    await ada_page.click("#text")
    await ada_page.keyboard.press("Control+End")
    await bob_page.click("#text")
    await bob_page.keyboard.press("Control+Home")
    ada_typed, bob_typed = "", ""
    for turn, daphne in enumerate(daphnes):
        words = f"ada{turn} types 😀 before. "
        await ada_page.keyboard.type(words, delay=5)
        ada_typed += words
        await wait_saved(ada_page)  # Ada is idle during the restart: she sees "reconnecting"
        words = "".join(f"bob{turn}.{n} " for n in range(12))
        bob_typing = asyncio.create_task(bob_page.keyboard.type(words, delay=25))
        await asyncio.sleep(0.3)
        daphne.proc.send_signal(signal.SIGTERM)  # Bob keeps typing meanwhile
        await eventually_async(lambda: daphne.proc.poll() is not None, interval=0.1, what="daphne to exit")  # noqa: B023 - awaited in this turn
        assert daphne.proc.returncode == 0
        await bob_typing
        bob_typed += words
        daphne.start()
        await eventually_async(
            threaded(lambda: direct_health(daphne) == 200),  # noqa: B023 (awaited in this turn)
            interval=0.1,
            what="the restarted daphne to be healthy",
        )
        expected = bob_typed + "|middle|" + ada_typed
        await eventually_async(
            lambda: selectors.document_snapshot(document_id=document.pk)[1] == expected,  # noqa: B023
            interval=0.1,
            what="the server to hold every keystroke",
        )
        for page in (ada_page, bob_page):
            await wait_saved(page)
            await page.wait_for_function("t => document.querySelector('#text').value === t", arg=expected)

    # Whichever process held the document's sockets, one restart moved them.
    ada_states = await ada_page.evaluate("() => window.statesShown")
    bob_states = await bob_page.evaluate("() => window.statesShown")
    assert shown_then_saved(ada_states, {"reconnecting"}), ada_states
    assert shown_then_saved(bob_states, {"reconnecting", "offline"}), bob_states
    revision = selectors.document_head(document_id=document.pk)
    assert selectors.document_at_revision(document_id=document.pk, revision=revision) == expected

    # Health through nginx: 200, then 503 naming the channel layer while Redis is down.
    # nginx may still be resting the process restarted last (max_fails, fail_timeout):
    # allow it that long, and show nginx's own account if it is longer.
    def healthy_through_nginx():
        status, body, _ = get(f"{url}/healthz")
        assert status == 200, (body, deployment.nginx_log.read_text())
        return body

    body = await eventually_async(threaded(healthy_through_nginx), timeout=10, what="health through nginx")
    assert json.loads(body) == {"status": "ok", "database": "ok", "channel_layer": "ok"}
    redis.stop()
    for _ in range(2):
        status, body, _ = get(f"{url}/healthz")
        assert status == 503
        assert json.loads(body) == {"status": "unavailable", "database": "ok", "channel_layer": "unreachable"}
    redis.start()
    await eventually_async(
        threaded(lambda: get(f"{url}/healthz")[0] == 200), interval=0.1, what="health to recover with Redis"
    )
