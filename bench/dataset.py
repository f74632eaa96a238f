"""The parts of a benchmark that need Django, run as a subprocess of the workload.

    python -m bench.dataset <command> '<JSON keyword arguments>'

works on the database named by ``COLLAB_SQLITE_PATH`` and prints one line of JSON.
Commands: ``populate`` (users, their sessions, documents, members and past history),
``replay_matches`` (does a history rebuild its text) and ``commit_timing`` (the commit
service called directly, stage by stage). Nothing here runs while a server writes to
the same file.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

WORDS = (
    "the quick brown fox jumps over a lazy dog while seven editors type notes about "
    "minutes agenda budget review launch design draft plan owner status risk next"
).split()


def filler(chars: int, rng: random.Random) -> str:
    """``chars`` code points of word-like ASCII text with a line break now and then."""
    parts: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(WORDS) + ("\n" if rng.random() < 0.08 else " ")
        parts.append(word)
        size += len(word)
    return "".join(parts)[:chars]


def populate(*, users: int, documents: list[dict[str, Any]], seed: int = 1, verify: bool = False) -> dict[str, Any]:
    """Create ``users`` users with sessions, and the ``documents`` described.

    Each document is ``{"owner": i, "members": [j, ...], "chars": n, "past_ops": m}``:
    user ``i`` owns it, users ``j`` are editors, it starts with ``n`` code points of
    text (revision 1) followed by ``m`` committed ops. Answers the users' session
    cookies and the documents' ids and revisions; with ``verify``, also whether each
    document's history replays to its text.
    """
    from django.contrib.auth import get_user_model
    from django.test import Client

    from editor.domain import services
    from editor.models import Membership

    rng = random.Random(seed)
    people = [
        get_user_model().objects.create_user(username=f"typist{index:05d}", password=None) for index in range(users)
    ]
    cookies = []
    for person in people:
        browser = Client()
        browser.force_login(person)
        cookies.append(f"sessionid={browser.cookies['sessionid'].value}")
    made = []
    for number, spec in enumerate(documents):
        owner = people[spec.get("owner", 0)]
        document = services.document_create(
            title=f"Benchmark {number}", owner=owner, content=filler(spec.get("chars", 0), rng)
        )
        Membership.objects.bulk_create(
            Membership(document=document, user=people[j], role="editor")
            for j in spec.get("members", [])
            if people[j] != owner
        )
        revision, chars = add_history(document.pk, owner, spec.get("past_ops", 0), rng)
        made.append({"id": document.pk, "revision": revision, "chars": chars})
        if verify:
            made[-1]["replays_to_text"] = replay_matches(document_id=document.pk)["matches"]
    return {
        "users": [{"id": p.pk, "name": p.username, "cookie": c} for p, c in zip(people, cookies)],
        "documents": made,
    }


def add_history(document_id: str, user, count: int, rng: random.Random) -> tuple[int, int]:
    """Append ``count`` committed ops to a document's history, in bulk.

    They are real edits, as the commit service would store them: a character typed at
    a random place and then deleted again, so the text after an even number of them is
    the text before, and replaying the history still gives the stored content.
    """
    from django.db import transaction

    from editor.core import ot
    from editor.models import Document, Operation, Snapshot

    with transaction.atomic():
        from editor.domain import selectors

        document = Document.objects.select_for_update().get(pk=document_id)
        content, revision = selectors.document_text(document), document.revision
        if count == 0:
            return revision, len(content)
        rows = []
        clients = [f"history{n}" for n in range(4)]
        seqs = [0] * len(clients)
        for index in range(count):
            if index % 2 == 0:
                pos = rng.randint(0, len(content))
                op = [{"pos": pos, "insert": rng.choice("abcdefghij")}]
            else:
                op = [{"pos": pos, "delete": 1}]
            which = (index // 2) % len(clients)
            seqs[which] += 1
            revision += 1
            rows.append(
                Operation(
                    document_id=document_id,
                    revision=revision,
                    user=user,
                    client=clients[which],
                    seq=seqs[which],
                    ops=op,
                )
            )
        if count % 2:
            content = ot.apply(content, rows[-1].ops)
        Operation.objects.bulk_create(rows, batch_size=5000)
        Document.objects.filter(pk=document_id).update(revision=revision, length=len(content))
        Snapshot.objects.update_or_create(document_id=document_id, defaults={"revision": revision, "content": content})
    return revision, len(content)


def replay_matches(*, document_id: str) -> dict[str, Any]:
    """Whether replaying a document's whole history gives its stored content."""
    from editor.domain import selectors
    from editor.models import Document

    document = Document.objects.get(pk=document_id)
    replayed = selectors.document_at_revision(document_id=document_id, revision=document.revision)
    return {"revision": document.revision, "matches": replayed == selectors.document_text(document)}


# The commit service's stages, in the order it runs them.
STAGES = ("_lock", "_synced", "_authorise", "_already_committed", "_transform", "_apply", "_store")


def commit_timing(*, document_id: str, user_id: int, count: int, seed: int = 2) -> dict[str, Any]:
    """Call ``operation_commit`` ``count`` times, one inserted character each, timing it.

    Each stage of the service is wrapped with a timer for the breakdown; ``commit`` is
    what the whole call took beyond its stages (BEGIN, COMMIT and the ORM around them).
    """
    from django.contrib.auth import get_user_model

    from editor.domain import commit, errors, services
    from editor.models import Document

    stages: dict[str, list[float]] = defaultdict(list)
    for name in STAGES:
        if callable(getattr(commit, name, None)):  # stages come and go as the service evolves
            setattr(commit, name, _timed(getattr(commit, name), stages[name.lstrip("_")]))
    rng = random.Random(seed)
    user = get_user_model().objects.get(pk=user_id)
    document = Document.objects.get(pk=document_id)
    revision, length = document.revision, document.length
    client = f"direct{os.getpid()}"
    # Kept across calls as a server process keeps it for each open document.
    state = services.document_state(document_id=document_id)
    totals = []
    for seq in range(1, count + 1):
        ops = [{"pos": rng.randint(0, length), "insert": rng.choice("abcdefghij")}]
        started = time.perf_counter()
        submission = services.Submission(user=user, client=client, seq=seq, base=revision, ops=ops)
        [committed] = services.operations_commit(document_id=document_id, submissions=[submission], state=state)
        if isinstance(committed, errors.Refusal):
            raise committed
        totals.append(time.perf_counter() - started)
        revision, length = committed.revision, length + 1
    return {"seconds": totals, "stages": dict(stages)}


def _timed(function: Callable, into: list[float]) -> Callable:
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            into.append(time.perf_counter() - started)

    return timed


COMMANDS: dict[str, Callable[..., Any]] = {
    "populate": populate,
    "replay_matches": replay_matches,
    "commit_timing": commit_timing,
}


def main(argv: list[str]) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "collab.settings")
    django.setup()
    command, params = COMMANDS[argv[0]], json.loads(argv[1] if len(argv) > 1 else "{}")
    print(json.dumps(command(**params)))


if __name__ == "__main__":
    main(sys.argv[1:])
