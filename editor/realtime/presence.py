"""Who is connected to which document right now, across every server process.

Each joined WebSocket is one :class:`~editor.models.Connection` row, keyed by a name
unique across processes: written on join, deleted on disconnect, and touched at least
every :data:`HEARTBEAT_SECONDS` while open (by ``editor.realtime.watch``, for all the sockets of
a process at once). A process that crashes (or is killed) never runs
its consumers' disconnect, so its rows stay behind; a row not seen for
:data:`STALE_AFTER` is treated as gone by every reader, and rows that stale are
deleted whenever another connection to the same document opens.

The functions are synchronous: the real-time path calls them through
``editor.realtime.dbthread.run``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..models import Connection

# How often an open connection refreshes its row.
HEARTBEAT_SECONDS = 30
# A row not refreshed for this long belongs to a dead process (four missed heartbeats).
STALE_AFTER = timedelta(seconds=4 * HEARTBEAT_SECONDS)


def connection_opened(*, document_id: str, channel_name: str, user_id: int, client: str) -> None:
    """Record that ``channel_name`` joined the document (again: a re-join updates the row)."""
    now = timezone.now()
    Connection.objects.update_or_create(
        channel_name=channel_name,
        defaults={"document_id": document_id, "user_id": user_id, "client": client, "seen": now},
        create_defaults={
            "document_id": document_id,
            "user_id": user_id,
            "client": client,
            "opened": now,
            "seen": now,
        },
    )
    # Leftovers of crashed processes: pruned here so the table cannot grow without bound.
    Connection.objects.filter(document_id=document_id, seen__lt=now - STALE_AFTER).delete()


def connections_seen(*, channel_names: Iterable[str]) -> int:
    """Refresh the rows of open connections in one UPDATE; how many there were."""
    return Connection.objects.filter(channel_name__in=list(channel_names)).update(seen=timezone.now())


def connection_closed(*, channel_name: str) -> None:
    """Forget ``channel_name``; closing one that never joined is harmless."""
    Connection.objects.filter(channel_name=channel_name).delete()


def live_connections() -> QuerySet[Connection]:
    """Connections seen within :data:`STALE_AFTER`."""
    return Connection.objects.filter(seen__gte=timezone.now() - STALE_AFTER)


def connected_counts(document_ids: Iterable[str]) -> dict[str, int]:
    """How many people (distinct users, whatever their number of tabs) have each document open."""
    ids = list(document_ids)
    counts = dict.fromkeys(ids, 0)
    rows = (
        live_connections()
        .filter(document_id__in=ids)
        .values("document_id")
        .annotate(people=Count("user", distinct=True))
        .values_list("document_id", "people")
    )
    counts.update(rows)
    return counts


def people_connected(document: str | OuterRef = "pk") -> Coalesce:
    """The count of :func:`connected_counts` as an expression, to annotate documents with.

    ``document`` names the document's primary key in the outer query.
    """
    people = (
        live_connections()
        .filter(document_id=OuterRef(document) if isinstance(document, str) else document)
        .order_by()
        .values("document_id")
        .annotate(people=Count("user", distinct=True))
        .values("people")
    )
    return Coalesce(Subquery(people, output_field=IntegerField()), Value(0))
