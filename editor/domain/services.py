"""Writes: every way the documents change, in one place to import them from.

The work is split by job:

- :mod:`editor.domain.commit`: the commit path, by which any edit becomes a revision
  (lock, authorise, recognise a resend, rebase, check, apply, store);
- :mod:`editor.domain.edits`: whole-text edits (the admin's form, a restore), cut into
  ops and committed through that same path, then announced;
- :mod:`editor.domain.documents`: a document's life (create, upload, rename, delete).

Callers use ``services.x``; the names below are the public ones of those modules.
"""

from __future__ import annotations

from .commit import (
    MAX_ATTEMPTS,
    Ahead,
    CommitConflict,
    Committed,
    Submission,
    document_state,
    operation_commit,
    operations_commit,
    submission_read_ahead,
)
from .documents import (
    document_create,
    document_delete,
    document_from_upload,
    document_rename,
    documents_delete,
)
from .edits import document_replace_text, document_restore, op_pieces
from .state import Entry

__all__ = [
    "MAX_ATTEMPTS",
    "Ahead",
    "CommitConflict",
    "Committed",
    "Entry",
    "Submission",
    "document_create",
    "document_delete",
    "document_from_upload",
    "document_rename",
    "document_replace_text",
    "document_restore",
    "document_state",
    "documents_delete",
    "op_pieces",
    "operation_commit",
    "operations_commit",
    "submission_read_ahead",
]
