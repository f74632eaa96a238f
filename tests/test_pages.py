"""Pages, sign-up, and settings that guard production."""

import os
import secrets
import subprocess
import sys

import pytest

from editor import ot, services
from editor.models import Membership

from .conftest import ROOT

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def ada(django_user_model):
    return django_user_model.objects.create_user("ada", password="correct horse battery")


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


def test_sign_up_creates_an_account_and_signs_in(client, django_user_model):
    """With sign-up on, the form creates a user and a session."""
    response = client.post("/accounts/signup/", {
        "username": "newbie", "password1": "a fine long passphrase", "password2": "a fine long passphrase",
    })
    assert response.status_code == 302
    assert django_user_model.objects.filter(username="newbie").exists()
    assert client.get("/").status_code == 200


def test_sign_up_can_be_turned_off(client, settings, django_user_model):
    """With COLLAB_SIGNUP_ENABLED off the page does not exist and nothing is created."""
    settings.COLLAB_SIGNUP_ENABLED = False
    response = client.post("/accounts/signup/", {
        "username": "newbie", "password1": "a fine long passphrase", "password2": "a fine long passphrase",
    })
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
    response = client.post(f"/documents/{doc.pk}/sharing/", {"action": "set", "username": "nobody", "role": "editor"}, follow=True)
    assert "There is no user named &#x27;nobody&#x27;" in response.content.decode()
    assert Membership.objects.filter(document=doc).count() == 1
    client.force_login(bob)
    page = client.get(f"/documents/{doc.pk}/").content.decode()
    assert "Sharing" not in page  # members do not see the owner's panel
    assert client.post(f"/documents/{doc.pk}/sharing/", {"action": "revoke", "username": "bob"}).status_code == 404


def production_env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(DJANGO_DEBUG="0", DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
               DJANGO_ALLOWED_HOSTS="collab.example.com", DJANGO_SETTINGS_MODULE="collab.settings")
    env.update(extra)
    return env


def test_deploy_checks_pass_with_production_settings():
    """manage.py check --deploy reports nothing with the documented production variables."""
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=production_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("extra,message", [
    ({"DJANGO_ALLOWED_HOSTS": "*"}, "'*' is refused"),
    ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY must be set"),
])
def test_unsafe_production_settings_are_refused(extra, message):
    """A wildcard host or a missing secret key stops the server from starting outside debug."""
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT,
                            env=production_env(**extra), capture_output=True, text=True)
    assert result.returncode != 0 and message in result.stderr
