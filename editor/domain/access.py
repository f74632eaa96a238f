"""Who may still hold a socket: session checks and role checks, many at a time.

A change of membership, a deleted document or a sign-out is announced
(:mod:`editor.domain.events`) so that sockets on every server process re-check at once.
Announcements may be dropped, so each process also re-checks all its sockets every
COLLAB_SESSION_CHECK_SECONDS (``editor.realtime.watch``) through these functions, and
every op is authorised again inside its commit transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import import_module

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from ..models import Document, Membership
from .errors import Closing
from .roles import decide_role, users_editing_every_document


def sessions_signed_in(pairs: Iterable[tuple[str, int]]) -> set[tuple[str, int]]:
    """Those ``(session_key, user_id)`` pairs whose session still exists, belongs to
    the user, and was signed in with the user's current password; two queries in all
    when sessions live in the database."""
    pairs = {(key, user_id) for key, user_id in pairs if key}
    sessions = _session_data({key for key, _ in pairs})
    theirs = {
        (key, user_id)
        for key, user_id in pairs
        if key in sessions
        and str(sessions[key].get(SESSION_KEY)) == str(user_id)
        and BACKEND_SESSION_KEY in sessions[key]
    }
    user_ids = {user_id for _, user_id in theirs}
    users = get_user_model().objects.filter(pk__in=user_ids, is_active=True) if user_ids else []
    # A password change rotates the hash and signs out every other session.
    hashes = {user.pk: user.get_session_auth_hash() for user in users}
    return {
        (key, user_id)
        for key, user_id in theirs
        if user_id in hashes and constant_time_compare(sessions[key].get(HASH_SESSION_KEY, ""), hashes[user_id])
    }


def _session_data(keys: set[str]) -> dict[str, dict]:
    """The decoded data of those sessions that exist and have not expired."""
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    if not keys:
        return {}
    if not hasattr(store_class, "get_model_class"):  # not kept in the database: one by one
        loaded = {key: store_class(key).load() for key in keys}
        return {key: data for key, data in loaded.items() if data}
    rows = store_class.get_model_class().objects.filter(session_key__in=keys, expire_date__gt=timezone.now())
    decoder = store_class()
    return {key: decoder.decode(data) for key, data in rows.values_list("session_key", "session_data")}


def roles(pairs: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str | Exception]:
    """The role of each ``(document_id, user_id)`` as :func:`editor.domain.roles.decide_role`
    decides it: ``"editor"`` or ``"viewer"``, else the ``DocumentNotFound`` or
    ``AccessDenied`` it would raise; three queries in all."""
    pairs = set(pairs)
    owners = dict(Document.objects.filter(pk__in={d for d, _ in pairs}).values_list("pk", "owner_id"))
    members = (
        {
            (document_id, user_id): role
            for document_id, user_id, role in Membership.objects.filter(
                document_id__in=set(owners), user_id__in={u for _, u in pairs}
            ).values_list("document_id", "user_id", "role")
        }
        if owners
        else {}
    )
    staff = users_editing_every_document({u for _, u in pairs}) if owners else set()
    found: dict[tuple[str, int], str | Exception] = {}
    for document_id, user_id in pairs:
        try:
            found[document_id, user_id] = decide_role(
                document_id=document_id,
                owner_id=owners.get(document_id),
                user_id=user_id,
                membership=members.get((document_id, user_id)),
                edits_every_document=lambda user_id=user_id: user_id in staff,  # type: ignore[misc]  # mypy cannot type a default-bound lambda
            )
        except Closing as exc:
            found[document_id, user_id] = exc
    return found
