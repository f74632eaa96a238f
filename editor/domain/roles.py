"""Who has which role on a document: decided by :func:`decide_role` and nowhere else.

- The owner is an editor.
- A member is an editor or a viewer, as their membership says.
- Staff who may change documents in the admin (``is_staff`` with the
  ``editor.change_document`` permission, which a superuser has) are editors of every
  document: they can rewrite any text in the admin already, so the editor page, its
  socket and the commit path give them the same role rather than a weaker one.
- Anyone else has no role: :class:`~editor.domain.errors.AccessDenied`. A document that does
  not exist is :class:`~editor.domain.errors.DocumentNotFound`.

The callers only gather the facts (one user or many, inside a commit's lock or not);
the page, the socket at connect and join, the periodic check and every commit decide
with the same function, so they always agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth import get_user_model

from ..models import Membership
from .errors import AccessDenied, DocumentNotFound

EDITOR, VIEWER = Membership.Role.EDITOR, Membership.Role.VIEWER
# The admin's permission to change documents, which makes staff editors of every document.
EDIT_EVERY_DOCUMENT = "editor.change_document"
PERMISSIONS_BACKEND = "django.contrib.auth.backends.ModelBackend"


def decide_role(
    *,
    document_id: str,
    owner_id: int | None,
    user_id: int,
    membership: str | None,
    edits_every_document: Callable[[], bool],
) -> str:
    """``"editor"`` or ``"viewer"`` for the user on the document, else raise.

    ``owner_id`` is None when no document has that id; ``membership`` is the user's
    membership role, None without one; ``edits_every_document`` is asked only when
    the rest does not already make the user an editor (it may cost a query).
    """
    if owner_id is None:
        raise DocumentNotFound(document_id)
    if owner_id == user_id or membership == EDITOR or edits_every_document():
        return EDITOR
    if membership is None:
        raise AccessDenied(document_id)
    return membership


def edits_every_document(user) -> bool:
    """Whether ``user`` is staff who may change documents in the admin, as the database
    says now: a socket's ``user`` was loaded when it connected, and its flags and
    cached permissions would keep a revoked staff member an editor (one query, asked
    only of users who are neither owner nor editing member)."""
    return user.pk is not None and user.pk in users_editing_every_document({user.pk})


def users_editing_every_document(user_ids: Iterable[int]) -> set[int]:
    """Those of ``user_ids`` for whom :func:`edits_every_document` holds, in one query.

    The permission is read as Django's ModelBackend grants it (a superuser's, the
    user's own or a group's), the one backend here that grants permissions.
    """
    manager: Any = get_user_model().objects  # a UserManager, which has with_perm
    users = manager.with_perm(EDIT_EVERY_DOCUMENT, backend=PERMISSIONS_BACKEND)
    return set(users.filter(pk__in=set(user_ids), is_staff=True).values_list("pk", flat=True))
