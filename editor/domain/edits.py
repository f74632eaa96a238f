"""Whole-text edits (the admin's form, a restore, a new document's text): the change
from one text to another, cut into ops within the limits and committed through
:mod:`editor.domain.commit` like keystrokes, then announced once the transaction
commits (:mod:`editor.domain.events`).
"""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from ..core import diff, frames, ot
from . import budgets, events, selectors
from .commit import Committed, Submission, locked_state, operations_commit
from .errors import BadBase, BadOp


def document_replace_text(
    *, document_id: str, user: AbstractBaseUser, base: int, text: str, client: str, charge: bool = True
) -> Committed | None:
    """Make the text read ``text``, as edited by ``user`` against revision ``base``.

    The change from the text at ``base`` to ``text`` becomes one op (see
    :func:`editor.core.diff.text_diff`) committed by :func:`editor.domain.commit.operation_commit` under
    (``user``, ``client``, seq 1): it is rebased over everything committed since
    ``base``, so nothing typed meanwhile is lost, and a resubmission with the same
    ``client`` is recognised. The revision is announced to open sockets once the
    transaction commits. Returns None when ``text`` is the text at ``base``.

    With ``charge`` the text it inserts is spent from ``user``'s inserted-text budget
    (see :func:`pieces_commit`).
    """
    try:
        ot.check_text(text, what="text")
    except ot.OperationError as exc:
        raise BadOp(str(exc)) from None
    head, content = selectors.document_snapshot(document_id=document_id)
    if not 0 <= base <= head:
        raise BadBase(f"base {base} is not a revision of the document (0 to {head})")
    # The history is immutable, so the text at base can be read outside any lock.
    if base == head:
        old = content
    else:
        old = selectors.document_at_revision(document_id=document_id, revision=base)
    return _text_change_commit(
        document_id=document_id, user=user, client=client, base=base, old=old, new=text, charge=charge
    )


def document_restore(
    *, document_id: str, user: AbstractBaseUser, revision: int, client: str, charge: bool = True
) -> Committed | None:
    """Make the text what it was at ``revision``, as one new revision by ``user``.

    The history is never rewritten: the difference from the current text is
    committed as one more op. The document stays locked from reading its current text
    to storing the op, so the result is exactly the old text even while people type.
    Returns None when the text already is the text at ``revision``. With ``charge``
    the text it brings back is spent from ``user``'s inserted-text budget.
    """
    head = selectors.document_head(document_id=document_id)
    if not 0 <= revision <= head:
        raise BadBase(f"revision {revision} is not a revision of the document (0 to {head})")
    target = selectors.document_at_revision(document_id=document_id, revision=revision)
    with transaction.atomic():
        current = locked_state(document_id=document_id)
        return _text_change_commit(
            document_id=document_id,
            user=user,
            client=client,
            base=current.rev,
            old=str(current.text),
            new=target,
            charge=charge,
        )


def _text_change_commit(
    *, document_id: str, user, client: str, base: int, old: str, new: str, charge: bool
) -> Committed | None:
    ops = diff.text_diff(old, new, max_components=settings.COLLAB_MAX_COMPONENTS)
    if not ops:
        return None
    return pieces_commit(document_id=document_id, user=user, client=client, base=base, ops=ops, charge=charge)


def pieces_commit(*, document_id: str, user, client: str, base: int, ops: list, charge: bool) -> Committed:
    """Commit ``ops`` (made against ``base``) as the pieces of :func:`op_pieces`, seq 1,
    2, ... under ``client``, all or none, in one transaction; the last piece's result.

    With ``charge`` the code points ``ops`` insert are spent first from ``user``'s
    inserted-text budget, as typing them would be (:func:`editor.domain.budgets.spend_whole_text`:
    refused as ``rate_limited``, nothing recorded, when the budget is short), and given
    back if the commit is refused. Without it (the operator's own writes) nothing is spent.

    Each piece is rebased over everything before it, earlier pieces included, as if
    they were concurrent: pieces are in positions of the text at ``base``, in order, so
    that is exactly what puts each where it belongs.
    """
    pieces = op_pieces(
        ops,
        max_components=settings.COLLAB_MAX_COMPONENTS,
        max_insert=frames.op_insert_limit(
            max_frame=settings.COLLAB_MAX_FRAME_BYTES,
            max_components=settings.COLLAB_MAX_COMPONENTS,
            max_insert=settings.COLLAB_MAX_INSERT_CHARS,
        ),
    )
    submissions = [
        Submission(user=user, client=client, seq=seq, base=base, ops=piece) for seq, piece in enumerate(pieces, 1)
    ]
    inserted = sum(len(component["insert"]) for component in ops if "insert" in component) if charge else 0
    budgets.spend_whole_text(user_id=user.pk, chars=inserted)
    try:
        with transaction.atomic():
            results = operations_commit(document_id=document_id, submissions=submissions)
            for result in results:
                if isinstance(result, Exception):
                    raise result  # and every piece before it is rolled back
    except BaseException:
        budgets.refund(user_id=user.pk, chars=inserted)
        raise
    commits = cast(list[Committed], results)  # none is an exception: it was raised above
    for seq, committed in enumerate(commits, 1):
        if committed.duplicate:
            continue
        revision = selectors.Revision(
            rev=committed.revision,
            user_id=user.pk,
            user_name=user.get_username(),
            client=client,
            seq=seq,
            ops=committed.ops,
        )
        # Sockets must never hear of a revision that could still be rolled back.
        transaction.on_commit(
            lambda revision=revision: events.announce_revision_committed(document_id=document_id, revision=revision),  # type: ignore[misc]  # mypy cannot type a default-bound lambda
            robust=True,
        )
    return commits[-1]


def op_pieces(ops: list, *, max_components: int, max_insert: int) -> list[list]:
    """Cut a sequential op into ops within the limits on components and inserted code
    points, each in positions of the text the whole op applies to.

    Committed in order, each rebased over the ones before as over concurrent edits,
    they make the same text as ``ops`` (the committed side wins ties, so the pieces of
    one insert stay in order). ``ops`` must move forward: each component at or after
    where the one before left off, as :func:`editor.core.diff.text_diff` makes them.
    """
    pieces: list[list] = []
    piece: list = []
    budget = max_insert
    shift = 0  # how much the components before the current piece changed the length
    moved = 0  # ... and before the current component

    def cut() -> None:
        nonlocal piece, budget, shift
        pieces.append(piece)
        piece, budget, shift = [], max_insert, moved

    for comp in ops:
        if "delete" in comp:
            if len(piece) == max_components:
                cut()
            piece.append({"pos": comp["pos"] - shift, "delete": comp["delete"]})
            moved -= comp["delete"]
            continue
        text, pos = comp["insert"], comp["pos"]
        while text:
            if len(piece) == max_components or budget == 0:
                cut()
            part, text = text[:budget], text[budget:]
            piece.append({"pos": pos - shift, "insert": part})
            budget -= len(part)
            pos += len(part)
            moved += len(part)
    if piece:
        pieces.append(piece)
    return pieces
