"""Documents, their membership, and the full history of operations on them."""

import json
import secrets

from django.conf import settings
from django.db import models

# A history past this share of COLLAB_HISTORY_MAX_BYTES is shown as full (the admin, the editor page).
HISTORY_FULL_SHARE = 0.99


def new_document_id() -> str:
    """A URL-safe id of about 128 random bits: not guessable, short enough for a URL.

    Never one that begins with ``-``: a command line would read it as an option
    (``manage.py compacthistory -Xy...``). Ids made before this rule may; the
    commands take them after ``--``.
    """
    while True:
        value = secrets.token_urlsafe(16)
        if not value.startswith("-"):
            return value


class Document(models.Model):
    """A plain-text document at ``revision``, ``length`` code points long.

    The text itself is not in this row: its :class:`Snapshot` holds the whole text at
    some revision, and the revisions after it replay to the text at ``revision`` (see
    ``selectors.document_snapshot``).
    """

    id = models.CharField(primary_key=True, max_length=32, default=new_document_id, editable=False)
    title = models.CharField(max_length=200)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="owned_documents")
    revision = models.PositiveBigIntegerField(default=0)
    length = models.PositiveBigIntegerField(default=0)
    # Bytes of stored history (its ops as UTF-8 JSON, see ``op_bytes``), kept by the
    # commit path's row update and held under ``COLLAB_HISTORY_MAX_BYTES``.
    history_bytes = models.PositiveBigIntegerField(default=0)
    # Revisions up to here are folded into the checkpoint at this revision: their ops are
    # emptied (who made each and when is kept), so the text before it cannot be rebuilt
    # (see ``editor.domain.history.history_compact``). 0: the whole history is kept.
    history_start = models.PositiveBigIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated"]
        constraints = [models.CheckConstraint(condition=models.Q(revision__gte=0), name="document_revision_gte_0")]

    def __str__(self) -> str:
        return self.title

    @property
    def history_full(self) -> bool:
        """Whether the history is (all but) at ``COLLAB_HISTORY_MAX_BYTES``: few inserts still fit."""
        limit = settings.COLLAB_HISTORY_MAX_BYTES
        return bool(limit) and self.history_bytes >= limit * HISTORY_FULL_SHARE


class Snapshot(models.Model):
    """The whole text of a document at ``revision``, where reading its text starts.

    Rewritten every ``COLLAB_SNAPSHOT_EVERY`` revisions rather than on every keystroke
    (Etherpad keeps a key revision every 100 for the same reason), and kept out of the
    document's row because SQLite rewrites a whole row on every update: a revision
    counter beside a 1 MB text would write the text again with each keystroke.
    """

    document = models.OneToOneField(Document, on_delete=models.CASCADE, primary_key=True, related_name="snapshot")
    revision = models.PositiveBigIntegerField(default=0)
    content = models.TextField(blank=True, default="")

    def __str__(self) -> str:
        return f"{self.document_id}@{self.revision}"


class Membership(models.Model):
    """Someone other than the owner who may open a document, and what they may do."""

    class Role(models.TextChoices):
        EDITOR = "editor", "Editor"
        VIEWER = "viewer", "Viewer"

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.EDITOR)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["document", "user"], name="membership_unique_user")]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.document}"


class CompactJSONEncoder(json.JSONEncoder):
    """JSON as UTF-8 text: ``"😀"`` is stored as its 4 bytes, not as the 12 of
    ``"\\ud83d\\ude00"``, so a stored op costs about what its text does."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["ensure_ascii"] = False
        super().__init__(*args, **kwargs)


def op_bytes(ops: list) -> int:
    """What one stored op counts against its document's history budget: its JSON as stored, in UTF-8 bytes."""
    return len(json.dumps(ops, cls=CompactJSONEncoder).encode("utf-8"))


class Operation(models.Model):
    """One committed revision: the op that turned revision - 1 into ``revision``."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="operations")
    revision = models.PositiveBigIntegerField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="operations")
    client = models.CharField(max_length=64)
    seq = models.PositiveBigIntegerField()
    # The op as committed: already transformed onto revision - 1, so the history
    # replays without any transformation. May be [] when concurrent edits made it moot.
    ops = models.JSONField(encoder=CompactJSONEncoder)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Two writers can never both become the same revision...
            models.UniqueConstraint(fields=["document", "revision"], name="operation_unique_revision"),
            # ...and a resent op can never be applied twice.
            models.UniqueConstraint(fields=["document", "user", "client", "seq"], name="operation_unique_submission"),
            models.CheckConstraint(condition=models.Q(revision__gte=1), name="operation_revision_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}@{self.revision}"


class Connection(models.Model):
    """An open WebSocket to a document on some server process (see ``editor.realtime.presence``).

    A row lives from the socket's join to its disconnect. A process that dies without
    running disconnect leaves its rows behind; ``seen`` (refreshed by a heartbeat)
    tells live rows from such leftovers, which readers ignore and writers prune.
    """

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="connections")
    # The socket's name: its process's channel plus a counter (editor.realtime.watch), unique across
    # processes on one channel layer.
    channel_name = models.CharField(max_length=200, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="connections")
    client = models.CharField(max_length=64)
    opened = models.DateTimeField()
    seen = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["document", "seen"], name="connection_document_seen")]

    def __str__(self) -> str:
        return f"{self.user} on {self.document_id} ({self.client})"


class Checkpoint(models.Model):
    """The whole text of a document at a past ``revision``, a multiple of
    ``COLLAB_CHECKPOINT_EVERY``: reading the text at any revision replays at most that
    many revisions from the checkpoint before it (see ``editor.domain.history``).

    Written when history is first read past the last checkpoint, never by the commit
    path; the history is immutable, so a checkpoint never goes stale.
    """

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="checkpoints")
    revision = models.PositiveBigIntegerField()
    content = models.TextField(blank=True, default="")
    # Who wrote each part of ``content``: runs [user id, length in code points].
    authors = models.JSONField(default=list)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["document", "revision"], name="checkpoint_unique_revision")]

    def __str__(self) -> str:
        return f"{self.document_id}@{self.revision}"
