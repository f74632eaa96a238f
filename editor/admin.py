"""The admin: documents, who they are shared with, their history, and editing their text.

The text is never written to the database from here. A save turns the difference
between the text the form was loaded with and the text submitted into an op, and
commits it through :mod:`editor.domain.services` like any keystroke: it is rebased over what
people typed meanwhile and announced to their open sockets. Restoring an old
revision commits the difference to it as one more revision; history is never rewritten.
"""

from __future__ import annotations

import secrets
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import InvalidPage, Paginator
from django.core.validators import MaxValueValidator
from django.db.models import F
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from .core import diff, ot
from .domain import selectors, services
from .domain.errors import Refusal
from .models import Document, Membership, Operation
from .realtime import presence, protocol

# Revisions per page of a document's history.
REVISIONS_PER_PAGE = 100


# A whole client id as the protocol allows it (RegexField alone would accept a substring).
CLIENT_ID = rf"^{protocol.CLIENT_ID.pattern}\Z"


def new_client_id() -> str:
    """A client id for one admin form: with seq 1 it keys exactly one save of that form."""
    return f"admin-{secrets.token_urlsafe(12)}"


# --- forms ------------------------------------------------------------------------------


class DocumentForm(forms.ModelForm):
    """Title and owner are model fields; the text is a form field committed as an op."""

    text = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(
            attrs={
                "rows": 24,
                "spellcheck": "false",
                "style": "font-family: monospace; width: 100%;",
            }
        ),
        help_text=(
            "Saving commits your changes as one edit, merged with whatever people typed since this page was loaded."
        ),
    )
    # The revision the text above was loaded at: the base of the op a save commits.
    base_revision = forms.IntegerField(min_value=0, initial=0, widget=forms.HiddenInput)
    # Keys this form's save for exactly-once: submitting the same form twice saves once.
    client = forms.RegexField(regex=CLIENT_ID, widget=forms.HiddenInput)

    class Meta:
        model = Document
        fields = ["title", "owner"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Text and revision come from the one read of the row, so they always match.
        self.initial["text"] = "" if self.instance._state.adding else selectors.document_text(self.instance)
        self.initial["base_revision"] = self.instance.revision
        self.initial.setdefault("client", new_client_id())

    @property
    def changed_data(self) -> list[str]:
        """Changed fields, leaving out the hidden bookkeeping ones."""
        return [name for name in super().changed_data if name not in ("base_revision", "client")]

    def clean_text(self) -> str:
        text = diff.match_newlines(self.cleaned_data["text"], like=self.initial["text"])
        try:
            ot.check_text(text, what="the text")
        except ot.OperationError as exc:
            raise forms.ValidationError(str(exc)) from None
        limit = settings.COLLAB_MAX_DOCUMENT_CHARS
        if len(text) > limit:
            raise forms.ValidationError(f"A document holds at most {limit:,} code points (this is {len(text):,}).")
        return text

    def clean_base_revision(self) -> int:
        base = self.cleaned_data["base_revision"]
        if base > self.instance.revision:
            raise forms.ValidationError("The form names a revision the document does not have yet.")
        return base


class RestoreForm(forms.Form):
    """Which revision to bring back."""

    revision = forms.IntegerField(min_value=0)
    client = forms.RegexField(regex=CLIENT_ID, widget=forms.HiddenInput)

    def __init__(self, *args, head: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["revision"]
        field.validators.append(MaxValueValidator(head))
        field.widget.attrs["max"] = head
        field.help_text = f"0 (empty) to {head:,} (the current text)"


# --- sharing ----------------------------------------------------------------------------


class MembershipInline(admin.TabularInline):
    """People other than the owner who may open the document."""

    model = Membership
    extra = 1
    fields = ["user", "role", "created"]
    readonly_fields = ["created"]
    autocomplete_fields = ["user"]
    verbose_name = "person it is shared with"
    verbose_name_plural = "shared with (the owner always has full access)"


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["document", "user", "role", "created"]
    list_filter = ["role"]
    list_select_related = ["document", "user"]
    search_fields = ["document__title", "user__username"]
    autocomplete_fields = ["document", "user"]


# --- documents ----------------------------------------------------------------------------


class NewestFirst:
    """A document's history as a sequence, newest first, that a Paginator pages cheaply.

    Its length is the document's revision: the commit path stores exactly one op for
    each revision from 1, so the history is never counted. A page is one range query
    on the (document, revision) index, whatever the page's depth.
    """

    def __init__(self, document_id: str, head: int) -> None:
        self.document_id = document_id
        self.head = head

    def count(self) -> int:
        return self.head

    def __len__(self) -> int:
        return self.head

    def __getitem__(self, window: slice) -> list[dict]:
        newest = self.head - window.start
        oldest = max(1, self.head - window.stop + 1)
        rows = (
            Operation.objects.filter(document_id=self.document_id, revision__gte=oldest, revision__lte=newest)
            .order_by("-revision")
            .values_list("revision", "user__username", "client", "created", "ops")
        )
        return [
            {
                "revision": rev,
                "user": user,
                "client": client,
                "created": created,
                "summary": diff.describe_op(ops),
            }
            for rev, user, client, created, ops in rows
        ]


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    form = DocumentForm
    list_display = ["title", "owner", "revision", "size", "history_size", "last_edit", "people"]
    list_select_related = ["owner"]
    list_filter = [("owner", admin.RelatedOnlyFieldListFilter), "updated"]
    search_fields = ["title", "owner__username"]
    autocomplete_fields = ["owner"]
    fields = [
        "title",
        "owner",
        "revision",
        "revisions",
        "size",
        "history_size",
        "people",
        "created",
        "updated",
        "text",
        "base_revision",
        "client",
    ]
    readonly_fields = ["revision", "revisions", "size", "history_size", "people", "created", "updated"]
    inlines = [MembershipInline]
    actions = ["restore_to_revision"]

    def get_fields(self, request, obj=None):
        if obj is not None and not self.has_change_permission(request, obj):
            # Read-only staff see the text, not a form to edit it.
            form_only = ("text", "base_revision", "client")
            return [name for name in self.fields if name not in form_only] + ["current_text"]
        return self.fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(size=F("length"), people=presence.people_connected())

    def view_on_site(self, obj: Document) -> str:
        return reverse("editor:document_detail", kwargs={"document_id": obj.pk})

    # --- columns ---

    @admin.display(description="size (code points)", ordering="size")
    def size(self, obj: Document) -> int:
        return obj.size  # type: ignore[attr-defined]  # annotated by get_queryset

    @admin.display(description="history (bytes)", ordering="history_bytes")
    def history_size(self, obj: Document) -> str:
        """The stored history's bytes, and whether it is full (COLLAB_HISTORY_MAX_BYTES)."""
        limit = settings.COLLAB_HISTORY_MAX_BYTES
        if not limit:
            return f"{obj.history_bytes:,}"
        full = " (full: inserts are refused)" if obj.history_full else ""
        return f"{obj.history_bytes:,} of {limit:,}{full}"

    @admin.display(description="last edit", ordering="updated")
    def last_edit(self, obj: Document):
        return obj.updated

    @admin.display(description="connected now", ordering="people")
    def people(self, obj: Document) -> int:
        return obj.people  # type: ignore[attr-defined]  # annotated by get_queryset

    @admin.display(description="history")
    def revisions(self, obj: Document) -> str:
        if obj.pk is None or obj._state.adding:
            return "-"
        url = reverse("admin:editor_document_revisions", args=[quote(obj.pk)])
        count = f"{obj.revision:,} revision{'s' * (obj.revision != 1)}"
        return format_html('<a href="{}">{}, newest first</a>', url, count)

    @admin.display(description="text")
    def current_text(self, obj: Document) -> str:
        return format_html('<pre style="white-space: pre-wrap;">{}</pre>', selectors.document_text(obj))

    # --- saving: the text goes through the commit path ---

    def save_model(self, request, obj: Document, form: DocumentForm, change: bool) -> None:
        if not change:
            obj.save()  # empty, at revision 0; the text becomes its first op below
        else:
            # Only what the form may change: a full save would write back the text
            # and revision as read, undoing whatever was committed since.
            fields = [name for name in ("title", "owner") if name in form.changed_data]
            if fields:
                obj.save(update_fields=fields)
        self._commit_text(request, obj, form)

    def _commit_text(self, request, obj: Document, form: DocumentForm) -> None:
        base = form.cleaned_data["base_revision"]
        try:
            committed = services.document_replace_text(
                document_id=obj.pk,
                user=request.user,
                base=base,
                text=form.cleaned_data["text"],
                client=form.cleaned_data["client"],
                # Not budgeted: staff who may change documents here act for the trusted
                # operator (docs/security.md), and the admin is how a document is repaired.
                charge=False,
            )
        except Refusal as exc:
            self.message_user(request, f"The text was not saved: {exc}", messages.ERROR)
            return
        if committed is None:
            return
        if committed.duplicate:
            self.message_user(
                request,
                f"This form was already saved as revision {committed.revision}; "
                "reload the page to edit the text again.",
                messages.WARNING,
            )
        else:
            # A large change is committed as several revisions under the form's client.
            merged = (
                Operation.objects.filter(document_id=obj.pk, revision__gt=base, revision__lte=committed.revision)
                .exclude(client=form.cleaned_data["client"])
                .count()
            )
            since = f", merged with {merged} edit{'s' * (merged != 1)} made since the page was loaded" if merged else ""
            self.message_user(request, f"The text was saved as revision {committed.revision}{since}.")

    def delete_model(self, request, obj):
        services.documents_delete(document_ids=[obj.pk])

    def delete_queryset(self, request, queryset):
        services.documents_delete(document_ids=list(queryset.values_list("pk", flat=True)))

    def get_deleted_objects(self, objs, request):
        # The default lists every related row: a million-op history would be a
        # million-line page. Count instead; ops need no permission of their own.
        documents = list(objs)
        ids = [d.pk for d in documents]
        shares = Membership.objects.filter(document_id__in=ids).count()
        listed = [f"{Document._meta.verbose_name.capitalize()}: {d} ({d.revision:,} revisions)" for d in documents]
        model_count = {
            Document._meta.verbose_name_plural: len(documents),
            Operation._meta.verbose_name_plural: sum(d.revision for d in documents),
            Membership._meta.verbose_name_plural: shares,
        }
        perms_needed = set()
        if shares and not request.user.has_perm("editor.delete_membership"):
            perms_needed.add(Membership._meta.verbose_name)
        return listed, model_count, perms_needed, []

    # --- history and restore ---

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "<path:object_id>/revisions/",
                self.admin_site.admin_view(self.revisions_view),
                name=f"{info}_revisions",
            ),
            path(
                "<path:object_id>/restore/",
                self.admin_site.admin_view(self.restore_view),
                name=f"{info}_restore",
            ),
            *super().get_urls(),
        ]

    def _document(self, object_id: str) -> Document:
        document = Document.objects.only("id", "title", "revision").filter(pk=unquote(object_id)).first()
        if document is None:
            raise Http404("No such document")
        return document

    def revisions_view(self, request, object_id: str):
        """The document's ops, newest first, a page at a time; read-only."""
        document = self._document(object_id)
        if not self.has_view_permission(request, document):
            raise PermissionDenied
        paginator: Paginator[Any] = Paginator(NewestFirst(document.pk, document.revision), REVISIONS_PER_PAGE)  # type: ignore[arg-type]  # count() and slices suffice
        number = request.GET.get("p", 1)
        if "rev" in request.GET:  # jump to the page holding that revision
            try:
                number = (document.revision - int(request.GET["rev"])) // REVISIONS_PER_PAGE + 1
            except ValueError:
                number = 1
        try:
            page = paginator.page(number)
        except InvalidPage:
            page = paginator.page(paginator.num_pages if str(number).isdigit() else 1)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": document,
            "title": f"Revisions of {document}",
            "page": page,
            "page_range": paginator.get_elided_page_range(page.number),
            "can_restore": self.has_change_permission(request, document),
        }
        return TemplateResponse(request, "admin/editor/document/revisions.html", context)

    def restore_view(self, request, object_id: str):
        """Ask for a revision, preview its text, and commit the way back to it."""
        document = self._document(object_id)
        if not self.has_change_permission(request, document):
            raise PermissionDenied
        change_url = reverse("admin:editor_document_change", args=[quote(document.pk)])
        if request.method == "POST":
            form = RestoreForm(request.POST, head=document.revision)
            if form.is_valid():
                self._restore(request, document, form)
                return HttpResponseRedirect(change_url)
        elif "revision" in request.GET:
            # A fresh client id per preview: confirming it restores once, however often sent.
            data = {"revision": request.GET["revision"], "client": new_client_id()}
            form = RestoreForm(data, head=document.revision)
        else:
            form = RestoreForm(head=document.revision)
        preview = None
        if form.is_bound and form.is_valid():
            preview = selectors.document_at_revision(document_id=document.pk, revision=form.cleaned_data["revision"])
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": document,
            "title": f"Restore {document} to an earlier revision",
            "form": form,
            "preview": preview,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/editor/document/restore.html", context)

    def _restore(self, request, document: Document, form: RestoreForm) -> None:
        revision = form.cleaned_data["revision"]
        try:
            committed = services.document_restore(
                document_id=document.pk,
                user=request.user,
                revision=revision,
                client=form.cleaned_data["client"],
                # Not budgeted: staff who may change documents here act for the trusted
                # operator (docs/security.md), and the admin is how a document is repaired.
                charge=False,
            )
        except Refusal as exc:
            self.message_user(request, f"Nothing was restored: {exc}", messages.ERROR)
            return
        if committed is None:
            self.message_user(request, f"The text already is the text of revision {revision}.")
        elif committed.duplicate:
            self.message_user(
                request,
                f"This restore was already saved as revision {committed.revision}.",
                messages.WARNING,
            )
        else:
            self.log_change(request, document, f"Restored revision {revision} as revision {committed.revision}.")
            self.message_user(
                request,
                f"Restored the text of revision {revision} as revision {committed.revision}.",
                messages.SUCCESS,
            )

    @admin.action(description="Restore the selected document to a revision…", permissions=["change"])
    def restore_to_revision(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True)[:2])
        if len(ids) != 1:
            self.message_user(request, "Choose exactly one document to restore.", messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:editor_document_restore", args=[quote(ids[0])]))
