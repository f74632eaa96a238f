"""Who may still hold a socket: session checks and access-change notices.

A change of membership, a deleted document or a sign-out is announced on the channel
layer so that sockets on every server process re-check at once. Announcements may be
dropped, so sockets also re-check on their own every COLLAB_SESSION_CHECK_SECONDS, and
every op is authorised again inside its commit transaction.
"""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.utils.crypto import constant_time_compare

from .fanout import group_name, send_from_sync


def user_group(user_id: int) -> str:
    """The channel-layer group of every socket a user holds."""
    return f"user.{user_id}"


def session_is_signed_in(*, session_key: str | None, user_id: int) -> bool:
    """Whether the session still exists, belongs to ``user_id`` and is still valid."""
    if not session_key:
        return False
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    data = store.load()
    if str(data.get(SESSION_KEY)) != str(user_id) or BACKEND_SESSION_KEY not in data:
        return False
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    # A password change rotates the hash and signs out every other session.
    return constant_time_compare(data.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash())


def announce_access_changed(*, document_id: str, user_id: int | None) -> None:
    """Make sockets of ``user_id`` (or of everyone, for None) on the document re-check."""
    send_from_sync(group_name(document_id), {"type": "doc.access", "document": document_id, "user_id": user_id})


def announce_signed_out(*, user_id: int, session_key: str | None) -> None:
    """Close the sockets of a session that signed out (of every session, for None)."""
    send_from_sync(user_group(user_id), {"type": "user.signed_out", "session_key": session_key})
