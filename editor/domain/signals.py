"""Announce access changes (:mod:`editor.domain.events`), whichever code path made them.

Membership may change from the editor page, the admin or a shell; a signal is the one
place all of them pass. The announcement goes out after the transaction commits so the
sockets re-check against the new state.
"""

from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from ..models import Document, Membership
from . import events


@receiver([post_save, post_delete], sender=Membership)
def membership_changed(sender, instance: Membership, **kwargs) -> None:
    transaction.on_commit(
        lambda: events.announce_access_changed(document_id=instance.document_id, user_id=instance.user_id)
    )


@receiver(post_delete, sender=Document)
def document_deleted(sender, instance: Document, **kwargs) -> None:
    transaction.on_commit(lambda: events.announce_access_changed(document_id=instance.pk, user_id=None))


@receiver(post_save, sender=Document)
def document_saved(sender, instance: Document, created: bool, update_fields=None, **kwargs) -> None:
    # The owner may have changed (the admin can reassign a document).
    if not created and (update_fields is None or "owner" in update_fields):
        transaction.on_commit(lambda: events.announce_access_changed(document_id=instance.pk, user_id=None))


@receiver(user_logged_out)
def signed_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        key = request.session.session_key if hasattr(request, "session") else None
        events.announce_signed_out(user_id=user.pk, session_key=key)
