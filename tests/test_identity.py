"""Who a socket belongs to: editor.realtime.identity, on its own and behind a real daphne."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.models import Session
from django.http.cookie import parse_cookie

from editor.realtime.identity import identify, session_key

from .wire import Wire, closed_with


def scope_with(cookie: str | None) -> dict:
    headers = [(b"host", b"testserver"), (b"origin", b"http://testserver")]
    if cookie is not None:
        headers.append((b"cookie", cookie.encode("latin1")))
    return {"type": "websocket", "path": "/ws/documents/x/", "headers": headers}


@pytest.mark.parametrize(
    "cookie",
    [
        "sessionid=abc",
        "csrftoken=x; sessionid=abc; theme=dark",
        'sessionid="abc"',  # quoted, as Django unquotes it
        "sessionid=abc; sessionid=def",  # the last wins, as in Django's request.COOKIES
        "theme=dark",
        "",
        "sessionid",  # no value: Django reads it as a cookie named "" with value "sessionid"
    ],
)
def test_the_session_cookie_is_read_as_django_reads_it(cookie):
    expected = parse_cookie(cookie).get("sessionid")
    assert session_key([(b"host", b"h"), (b"cookie", cookie.encode())]) == expected


def test_no_cookie_header_means_no_session_key():
    assert session_key([(b"host", b"h")]) is None


@pytest.mark.django_db(transaction=True)  # identify reads on the database thread, its own connection
async def test_a_signed_in_session_gives_its_user_and_key_and_leaves_the_scope_alone(client, ada):
    await sync_to_async(client.force_login)(ada)
    key = client.cookies["sessionid"].value
    scope = scope_with(f"csrftoken=x; sessionid={key}")
    before = dict(scope)
    user, found = await identify(scope)
    assert user.pk == ada.pk and user.is_authenticated
    assert found == key
    assert scope == before


@pytest.mark.django_db(transaction=True)  # identify reads on the database thread, its own connection
@pytest.mark.parametrize("cookie", [None, "theme=dark", "sessionid=not-a-session-key"])
async def test_no_session_or_an_unknown_one_is_anonymous(cookie):
    user, key = await identify(scope_with(cookie))
    assert isinstance(user, AnonymousUser)
    assert key is None


@pytest.mark.django_db(transaction=True)  # identify reads on the database thread, its own connection
async def test_a_session_from_before_a_password_change_is_anonymous_and_flushed(client, ada):
    await sync_to_async(client.force_login)(ada)
    key = client.cookies["sessionid"].value
    ada.set_password("a new password, elsewhere")
    await sync_to_async(ada.save)()
    user, found = await identify(scope_with(f"sessionid={key}"))
    assert isinstance(user, AnonymousUser) and found is None
    assert not await Session.objects.filter(session_key=key).aexists()


async def test_through_daphne_a_signed_in_tab_joins_and_a_stranger_is_closed_with_4401(server, doc, headers_for, ada):
    headers = headers_for(ada)
    async with Wire(server.ws(doc.pk), headers) as tab:
        messages = await tab.join("a")
        assert messages[-1]["type"] == "ready"
    stranger = dict(headers, Cookie="sessionid=forged0000000000000000000000000")
    async with Wire(server.ws(doc.pk), stranger) as other:
        assert await closed_with(other) == 4401
