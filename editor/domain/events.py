"""What the documents domain announces, to whoever listens: Django signals.

The domain never knows who listens, nor how a notice reaches the open sockets (that
is the real-time layer's business: :mod:`editor.realtime.listeners` connects to these
signals when the app is ready). Each ``announce_*`` function sends one signal; the
callers decide when, usually once the transaction that made the change has committed.
"""

from __future__ import annotations

from django.dispatch import Signal

from .selectors import Revision

# A revision committed outside a hub (a page, the admin, a script), sent once its
# transaction has committed. Arguments: document_id, revision (a selectors.Revision).
revision_committed = Signal()
# Who may open a document changed. Arguments: document_id, user_id (None for everyone).
access_changed = Signal()
# A session signed out. Arguments: user_id, session_key (None for every session).
signed_out = Signal()
# A user changed their password in one session, whose key rotated.
# Arguments: user_id, old_session_key, new_session_key.
password_changed = Signal()


def announce_revision_committed(*, document_id: str, revision: Revision) -> None:
    """Tell every process that ``revision`` of the document was committed."""
    revision_committed.send(sender=None, document_id=document_id, revision=revision)


def announce_access_changed(*, document_id: str, user_id: int | None) -> None:
    """Make sockets of ``user_id`` (or of everyone, for None) on the document re-check."""
    access_changed.send(sender=None, document_id=document_id, user_id=user_id)


def announce_signed_out(*, user_id: int, session_key: str | None) -> None:
    """Close the sockets of a session that signed out (of every session, for None)."""
    signed_out.send(sender=None, user_id=user_id, session_key=session_key)


def announce_password_changed(*, user_id: int, old_session_key: str | None, new_session_key: str | None) -> None:
    """The user changed their password in one session (whose key rotated from
    ``old_session_key`` to ``new_session_key``): that session's sockets stay open under
    the new key, and every other session's close at once."""
    password_changed.send(
        sender=None, user_id=user_id, old_session_key=old_session_key, new_session_key=new_session_key
    )
