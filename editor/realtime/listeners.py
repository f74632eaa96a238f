"""The real-time layer's ears on the domain: each announcement of
:mod:`editor.domain.events` goes out on the channel layer to every process concerned.

Connected when the app is ready (:meth:`editor.apps.EditorConfig.ready`).
"""

from __future__ import annotations

from django.dispatch import receiver

from . import fanout
from ..domain import events


@receiver(events.revision_committed)
def revision_committed(sender, *, document_id: str, revision, **kwargs) -> None:
    """A revision committed outside a hub (the admin, a page, a script): to every process."""
    fanout.send_from_sync(
        fanout.group_name(document_id),
        fanout._revisions_event(document_id, [fanout.revision_message(revision)]),
    )


@receiver(events.access_changed)
def access_changed(sender, *, document_id: str, user_id: int | None, **kwargs) -> None:
    fanout.send_from_sync(
        fanout.group_name(document_id), {"type": "doc.access", "document": document_id, "user_id": user_id}
    )


@receiver(events.signed_out)
def signed_out(sender, *, user_id: int, session_key: str | None, **kwargs) -> None:
    fanout.send_from_sync(
        fanout.user_group(user_id), {"type": "user.signed_out", "user_id": user_id, "session_key": session_key}
    )


@receiver(events.password_changed)
def password_changed(sender, *, user_id: int, old_session_key: str | None, new_session_key: str | None, **kwargs) -> None:
    fanout.send_from_sync(fanout.user_group(user_id), {
        "type": "user.password_changed", "user_id": user_id,
        "old_session_key": old_session_key, "new_session_key": new_session_key,
    })
