"""History: how fast the history pages are on a document with 100,000 revisions.

Stores a document of 10,000 code points and ``--revisions`` one-insert revisions (by
``--authors`` people taking turns, at scattered places, so authorship is fragmented)
straight into a database of its own (migrated on the spot), then times the timeline's
first, middle and last pages and the text at several revisions, cold (the first read
past a stretch stores its checkpoints) and warm. Run it against a throwaway database:

    COLLAB_SQLITE_PATH=/tmp/history-bench.sqlite3 python -m bench.history
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/history_bench python -m bench.history
"""

from __future__ import annotations

import argparse
import os
import time

import django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revisions", type=int, default=100_000)
    parser.add_argument("--authors", type=int, default=2, help="people taking turns, one revision each")
    args = parser.parse_args()
    if not (os.environ.get("COLLAB_SQLITE_PATH") or os.environ.get("DATABASE_URL")):
        parser.error("set COLLAB_SQLITE_PATH or DATABASE_URL to a throwaway database")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "collab.settings")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from editor.domain import services
    from editor.models import Checkpoint, Document, Operation

    call_command("migrate", verbosity=0)
    users = [get_user_model().objects.get_or_create(username=f"history-bench-{n}")[0] for n in range(args.authors)]
    user = users[0]
    document = services.document_create(title="History bench", owner=user, content="x" * 10_000)
    count = args.revisions
    started = time.perf_counter()
    Operation.objects.bulk_create(
        [
            Operation(
                document=document,
                revision=1 + n,
                user=users[n % len(users)],
                client="bench",
                seq=n,
                ops=[{"pos": (n * 7) % 10_000, "insert": "ab"}],
            )
            for n in range(1, count + 1)
        ],
        batch_size=5000,
    )
    head = count + 1
    Document.objects.filter(pk=document.pk).update(revision=head, length=10_000 + 2 * count)
    print(f"stored {count:,} revisions in {time.perf_counter() - started:.1f} s")

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)

    def timed(label: str, path: str) -> None:
        started = time.perf_counter()
        response = client.get(path)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"{path}: HTTP {response.status_code}")
        print(f"{label:<44} {elapsed * 1000:7.0f} ms")

    base = f"/documents/{document.pk}/history/"
    last_page = -(-head // 50)
    timed("timeline, newest page", base)
    timed("timeline, middle page", f"{base}?page={last_page // 2}")
    timed("timeline, oldest page", f"{base}?page={last_page}")
    middle = head // 2
    timed(f"revision {middle:,}, cold (stores checkpoints)", f"{base}{middle}/")
    timed(f"revision {middle:,}, warm", f"{base}{middle}/")
    timed(f"revision {middle - 1:,}, warm", f"{base}{middle - 1}/")
    timed(f"revision {head // 8:,}, warm", f"{base}{head // 8}/")
    timed(f"revision {head - 2:,}, cold (stores checkpoints)", f"{base}{head - 2}/")
    timed(f"revision {head * 3 // 4:,}, warm", f"{base}{head * 3 // 4}/")
    timed("who wrote what, at the head", f"/documents/{document.pk}/authors/")
    print(f"checkpoints stored: {Checkpoint.objects.filter(document=document).count()}")
    document.delete()


if __name__ == "__main__":
    main()
