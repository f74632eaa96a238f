"""Run as a separate process: commit ops to one document as fast as possible.

    python -m tests.commit_worker DOCUMENT_ID USERNAME CLIENT COUNT

Each op is made against a stale base on purpose, so commits race and transform.
Prints one line per commit: ``seq revision``.
"""

import os
import random
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "collab.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from editor.domain import selectors, services

    document_id, username, client, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    user = get_user_model().objects.get(username=username)
    rng = random.Random(client)
    for seq in range(1, count + 1):
        head = selectors.document_head(document_id=document_id)
        base = max(0, head - rng.randint(0, 3))
        text = selectors.document_at_revision(document_id=document_id, revision=base) if base else ""
        pos = rng.randint(0, len(text))
        committed = services.operation_commit(
            document_id=document_id,
            user=user,
            client=client,
            seq=seq,
            base=base,
            ops=[{"pos": pos, "insert": f"<{client}{seq}>"}],
        )
        print(seq, committed.revision, flush=True)


if __name__ == "__main__":
    main()
