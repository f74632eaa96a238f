"""Sharing a document: the owner adds, changes and revokes other people's roles."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from ..models import Document, Membership


class SharingError(Exception):
    """A sharing request that cannot be carried out; the message says why."""


def membership_set(*, document: Document, actor, username: str, role: str) -> Membership:
    """Give ``username`` the role on the document (owner only)."""
    if actor.pk != document.owner_id:
        raise SharingError("Only the owner can share this document.")
    if role not in Membership.Role.values:
        raise SharingError("Choose editor or viewer.")
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise SharingError(f"There is no user named {username!r}.")
    if user.pk == document.owner_id:
        raise SharingError("The owner always has full access.")
    with transaction.atomic():
        membership, _ = Membership.objects.update_or_create(document=document, user=user, defaults={"role": role})
    return membership


def membership_revoke(*, document: Document, actor, username: str) -> None:
    """Take away ``username``'s access; their open sockets close (owner only)."""
    if actor.pk != document.owner_id:
        raise SharingError("Only the owner can share this document.")
    with transaction.atomic():
        deleted = [m.delete() for m in Membership.objects.filter(document=document, user__username=username)]
    if not deleted:
        raise SharingError(f"{username!r} has no access to revoke.")


@login_required
@require_POST
def document_sharing(request, document_id: str):
    """Handle the sharing form of the editor page."""
    document = get_object_or_404(Document.objects.only("id", "owner_id"), pk=document_id)
    if document.owner_id != request.user.pk:
        raise Http404("No such document")
    username = (request.POST.get("username") or "").strip()
    try:
        if request.POST.get("action") == "revoke":
            membership_revoke(document=document, actor=request.user, username=username)
            messages.success(request, f"{username} no longer has access.")
        else:
            role = request.POST.get("role") or Membership.Role.EDITOR
            membership_set(document=document, actor=request.user, username=username, role=role)
            messages.success(request, f"{username} is now {role}.")
    except SharingError as exc:
        messages.error(request, str(exc))
    return redirect("editor:document_detail", document_id=document.pk)
