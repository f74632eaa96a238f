"""The deployment kit keeps up with the code: every variable listed, limits equal,
every requirement locked."""

from __future__ import annotations

import re

from django.conf import settings

from .conftest import ROOT

DEPLOY = ROOT / "deploy"


def settings_variables() -> set[str]:
    """Every environment variable collab/settings.py reads."""
    source = (ROOT / "collab" / "settings.py").read_text()
    return set(re.findall(r'(?:environ\.get|environ\[|env_bool|env_list)\(?\s*"([A-Z][A-Z0-9_]+)"', source))


def test_every_variable_is_in_the_environment_example_and_the_deploy_page():
    """deploy/collab.env.example and docs/deploy.md name every variable the settings read."""
    names = settings_variables()
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "COLLAB_MAX_FRAME_BYTES"} <= names
    example = (DEPLOY / "collab.env.example").read_text()
    listed = set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    assert sorted(names - listed) == [] and sorted(listed - names) == []
    page = (ROOT / "docs" / "deploy.md").read_text()
    assert sorted(n for n in names if f"`{n}`" not in page) == []


def test_nginx_body_limit_lets_the_largest_upload_and_form_through():
    """client_max_body_size is at least the largest upload (and Django's form limit), with
    at most a mebibyte of room for the form around it."""
    from editor.domain.documents import BYTES_PER_CODE_POINT

    site = (DEPLOY / "nginx" / "collab.conf").read_text()
    size = re.search(r"client_max_body_size (\d+)([km]?);", site)
    factor = {"": 1, "k": 1024, "m": 1024 * 1024}[size.group(2)]
    largest = max(settings.DATA_UPLOAD_MAX_MEMORY_SIZE, settings.COLLAB_MAX_DOCUMENT_CHARS * BYTES_PER_CODE_POINT)
    assert largest <= int(size.group(1)) * factor <= largest + 1024 * 1024


def test_daphne_is_started_with_the_applications_frame_limit():
    """The systemd unit runs deploy/daphne.sh, which passes COLLAB_MAX_FRAME_BYTES to daphne."""
    unit = (DEPLOY / "systemd" / "collab@.service").read_text()
    assert re.search(r"^ExecStart=\S+/deploy/daphne\.sh %i$", unit, re.MULTILINE)
    script = (DEPLOY / "daphne.sh").read_text()
    assert "settings.COLLAB_MAX_FRAME_BYTES" in script
    assert re.search(r'--websocket-max-message-size "\$max_frame"', script)


def test_every_requirement_is_locked_with_hashes():
    """Each package of requirements.txt and requirements-dev.txt is pinned in
    requirements.lock, and every pin carries hashes."""
    lock = (ROOT / "requirements.lock").read_text()
    pins = dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==(\S+) \\$", lock, re.MULTILINE))
    assert pins and len(re.findall(r"^[a-z0-9]", lock, re.MULTILINE)) == len(pins)
    assert lock.count("--hash=sha256:") >= len(pins)

    def normal(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    wanted = set()
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text().splitlines():
            line = line.split("#")[0].strip()
            if line and not line.startswith("-r"):
                wanted.add(normal(re.match(r"[A-Za-z0-9._-]+", line).group(0)))
    assert sorted(wanted - {normal(p) for p in pins}) == []
