"""The real-time layer's ears on the domain: each announcement of
:mod:`editor.domain.events` goes out on the channel layer to every process concerned.

Connected when the app is ready (:meth:`editor.apps.EditorConfig.ready`).
"""

from __future__ import annotations

from django.dispatch import receiver

from ..domain import events
from .bus import document_group, revisions_event, send_from_sync, user_group
from .feed import revision_message


@receiver(events.revision_committed)
def revision_committed(sender, *, document_id: str, revision, **kwargs) -> None:
    """A revision committed outside a hub (the admin, a page, a script): to every process."""
    send_from_sync(document_group(document_id), revisions_event(document_id, [revision_message(revision)]))


@receiver(events.access_changed)
def access_changed(sender, *, document_id: str, user_id: int | None, **kwargs) -> None:
    send_from_sync(document_group(document_id), {"type": "doc.access", "document": document_id, "user_id": user_id})


@receiver(events.signed_out)
def signed_out(sender, *, user_id: int, session_key: str | None, **kwargs) -> None:
    send_from_sync(user_group(user_id), {"type": "user.signed_out", "user_id": user_id, "session_key": session_key})


@receiver(events.password_changed)
def password_changed(
    sender, *, user_id: int, old_session_key: str | None, new_session_key: str | None, **kwargs
) -> None:
    send_from_sync(
        user_group(user_id),
        {
            "type": "user.password_changed",
            "user_id": user_id,
            "old_session_key": old_session_key,
            "new_session_key": new_session_key,
        },
    )
