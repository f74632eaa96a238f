"""Pages, sign-up, and settings that guard production."""

import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from django.test import Client

from editor.core import ot
from editor.domain import services
from editor.models import Membership

from .conftest import ROOT, Daphne

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_pages_require_sign_in(client, ada):
    """Anonymous visitors are sent to the sign-in page."""
    doc = services.document_create(title="T", owner=ada)
    for path in ("/", f"/documents/{doc.pk}/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_hostile_title_and_username_are_escaped(client, django_user_model):
    """Markup in a title or a username is shown as text, never run."""
    owner = django_user_model.objects.create_user("mallory+<b>", password="x")
    doc = services.document_create(title=HOSTILE, owner=owner, content=HOSTILE)
    client.force_login(owner)
    for path in ("/", f"/documents/{doc.pk}/"):
        body = client.get(path).content.decode()
        assert "<script>alert" not in body and "<img src=x" not in body
        assert "&lt;script&gt;" in body


def test_titles_with_nul_are_refused(ada):
    """A title holding U+0000 cannot be stored."""
    with pytest.raises(ot.OperationError):
        services.document_create(title="a\x00b", owner=ada)


def test_sign_up_creates_an_account_and_signs_in(client, settings, django_user_model):
    """With sign-up on, the form creates a user and a session."""
    settings.COLLAB_SIGNUP_ENABLED = True
    response = client.post(
        "/accounts/signup/",
        {
            "username": "newbie",
            "password1": "a fine long passphrase",
            "password2": "a fine long passphrase",
        },
    )
    assert response.status_code == 302
    assert django_user_model.objects.filter(username="newbie").exists()
    assert client.get("/").status_code == 200


def test_sign_up_can_be_turned_off(client, settings, django_user_model):
    """With COLLAB_SIGNUP_ENABLED off the page does not exist and nothing is created."""
    settings.COLLAB_SIGNUP_ENABLED = False
    response = client.post(
        "/accounts/signup/",
        {
            "username": "newbie",
            "password1": "a fine long passphrase",
            "password2": "a fine long passphrase",
        },
    )
    assert response.status_code == 404
    assert not django_user_model.objects.filter(username="newbie").exists()
    assert b"Sign up" not in client.get("/accounts/login/").content


def test_owner_sees_sharing_and_can_share(client, ada, django_user_model):
    """The owner shares by username and changes a role; the list shows it."""
    bob = django_user_model.objects.create_user("bob", password="x")
    doc = services.document_create(title="T", owner=ada)
    client.force_login(ada)
    client.post(f"/documents/{doc.pk}/sharing/", {"action": "set", "username": "bob", "role": "viewer"})
    assert Membership.objects.get(document=doc, user=bob).role == "viewer"
    page = client.get(f"/documents/{doc.pk}/").content.decode()
    assert 'class="sharing-user">bob<' in page and 'value="viewer" selected' in page
    response = client.post(
        f"/documents/{doc.pk}/sharing/", {"action": "set", "username": "nobody", "role": "editor"}, follow=True
    )
    assert "There is no user named &#x27;nobody&#x27;" in response.content.decode()
    assert Membership.objects.filter(document=doc).count() == 1
    client.force_login(bob)
    page = client.get(f"/documents/{doc.pk}/").content.decode()
    assert "Sharing" not in page  # members do not see the owner's panel
    assert client.post(f"/documents/{doc.pk}/sharing/", {"action": "revoke", "username": "bob"}).status_code == 404


def production_env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "COLLAB_"))}
    env.update(
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="collab.example.com",
        DJANGO_SETTINGS_MODULE="collab.settings",
    )
    env.update(extra)
    return env


def test_deploy_checks_pass_with_production_settings():
    """manage.py check --deploy reports nothing with the documented production variables."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "extra,message",
    [
        ({"DJANGO_ALLOWED_HOSTS": "*"}, "'*' is refused"),
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY must be set"),
    ],
)
def test_unsafe_production_settings_are_refused(extra, message):
    """A wildcard host or a missing secret key stops the server from starting outside debug."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=production_env(**extra), capture_output=True, text=True
    )
    assert result.returncode != 0 and message in result.stderr


def settings_in(env: dict[str, str], *names: str) -> dict[str, str]:
    """The values of settings as a process started with ``env`` sees them."""
    code = "import django; django.setup(); from django.conf import settings; " + "; ".join(
        f"print(repr(settings.{n}))" for n in names
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return dict(zip(names, result.stdout.split()))


def test_defaults_are_safe_when_nothing_is_set():
    """No DJANGO_DEBUG: debug off, sign-up off, HSTS for this host only (no subdomains, no preload)."""
    env = production_env()
    del env["DJANGO_DEBUG"]
    assert settings_in(
        env, "DEBUG", "COLLAB_SIGNUP_ENABLED", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD"
    ) == {
        "DEBUG": "False",
        "COLLAB_SIGNUP_ENABLED": "False",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "False",
        "SECURE_HSTS_PRELOAD": "False",
    }
    env.update(COLLAB_SIGNUP_ENABLED="1", DJANGO_HSTS_INCLUDE_SUBDOMAINS="1", DJANGO_HSTS_PRELOAD="1")
    assert set(
        settings_in(env, "COLLAB_SIGNUP_ENABLED", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD").values()
    ) == {"True"}


def test_no_built_in_secret_unless_debug_is_asked_for():
    """Without DJANGO_DEBUG and without a secret key the settings refuse to load."""
    env = production_env()
    del env["DJANGO_DEBUG"], env["DJANGO_SECRET_KEY"]
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode != 0 and "DJANGO_SECRET_KEY must be set" in result.stderr


def test_a_server_started_without_debug_serves_no_debug_page(transactional_db, tmp_path):
    """A daphne whose environment lacks DJANGO_DEBUG answers a 404 plainly, with a CSP."""
    server = Daphne(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_SECURE_SSL_REDIRECT="0",
        COLLAB_STATIC_ROOT=str(tmp_path / "static"),
    )
    del server.env["DJANGO_DEBUG"]
    server.env.pop("COLLAB_SIGNUP_ENABLED", None)
    # Outside debug the pages name collectstatic's hashed files, as a deployment does.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=server.env,
        check=True,
        timeout=120,
    )
    server.start()
    try:
        for path in ("/no-such-page/", "/accounts/signup/"):
            with pytest.raises(urllib.error.HTTPError) as missing:
                urllib.request.urlopen(server.url + path, timeout=10)
            assert missing.value.code == 404
            body = missing.value.read().decode()
            assert "URLconf" not in body and "DEBUG = True" not in body
        with urllib.request.urlopen(server.url + "/accounts/login/", timeout=10) as page:
            policy = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    finally:
        server.stop()


def test_repeated_wrong_passwords_lock_that_sign_in_with_a_clear_message(client, ada_password, make_user, settings):
    """After the failure limit even the right password is refused (429), with a message."""
    for _ in range(settings.COLLAB_LOGIN_FAILURE_LIMIT - 1):
        response = client.post("/accounts/login/", {"username": "ada", "password": "wrong"})
        assert response.status_code == 200  # the form again, with its error
    assert client.post("/accounts/login/", {"username": "ada", "password": "wrong"}).status_code == 429
    response = client.post("/accounts/login/", {"username": "ada", "password": ada_password})
    assert response.status_code == 429
    assert "Too many wrong passwords" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # Another person (another username) from the same address is not locked out.
    other = Client()
    make_user("bob", "another fine phrase")
    assert other.post("/accounts/login/", {"username": "bob", "password": "another fine phrase"}).status_code == 302


def test_a_right_password_resets_the_count(client, ada_password, settings):
    """Failures below the limit, then a success: the count starts again."""
    for _ in range(settings.COLLAB_LOGIN_FAILURE_LIMIT - 1):
        client.post("/accounts/login/", {"username": "ada", "password": "wrong"})
    assert client.post("/accounts/login/", {"username": "ada", "password": ada_password}).status_code == 302
    client.logout()
    for _ in range(settings.COLLAB_LOGIN_FAILURE_LIMIT - 1):
        client.post("/accounts/login/", {"username": "ada", "password": "wrong"})
    assert client.post("/accounts/login/", {"username": "ada", "password": ada_password}).status_code == 302


LOOKS_ALIKE = "looks too much like an existing one"
TAKEN = "already exists"


@pytest.mark.parametrize(
    "name,message",
    [
        ("аlice", LOOKS_ALIKE),
        ("aIice", LOOKS_ALIKE),
        ("\u0430l\u0456\u0441\u0435", LOOKS_ALIKE),
        ("ALICE", TAKEN),
        ("ａｌｉｃｅ", TAKEN),
        ("alice", TAKEN),
    ],
)
def test_sign_up_refuses_a_name_that_looks_like_an_existing_one(client, settings, django_user_model, name, message):
    """A Cyrillic "а", a capital I for an l: refused as look-alikes; another case or
    full-width letters (NFKC) are the same name."""
    settings.COLLAB_SIGNUP_ENABLED = True
    django_user_model.objects.create_user("alice", password="x")
    response = client.post(
        "/accounts/signup/",
        {
            "username": name,
            "password1": "a fine long passphrase",
            "password2": "a fine long passphrase",
        },
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert list(django_user_model.objects.values_list("username", flat=True)) == ["alice"]


def test_sign_up_stores_the_normalised_name_and_accepts_a_distinct_one(client, settings, django_user_model):
    """Full-width letters are stored as NFKC; a name unlike any other is taken."""
    settings.COLLAB_SIGNUP_ENABLED = True
    django_user_model.objects.create_user("alice", password="x")
    response = client.post(
        "/accounts/signup/",
        {
            "username": "ｂｏｂ",
            "password1": "a fine long passphrase",
            "password2": "a fine long passphrase",
        },
    )
    assert response.status_code == 302
    assert set(django_user_model.objects.values_list("username", flat=True)) == {"alice", "bob"}
