from django.core.management.base import BaseCommand, CommandError

from editor.domain import history
from editor.domain.errors import Refusal
from editor.models import Document


class Command(BaseCommand):
    help = (
        "Free a document's history budget (COLLAB_HISTORY_MAX_BYTES): fold its revisions up to "
        "a revision into a checkpoint there. The text at that revision and every later one stays "
        "rebuildable; the text at each earlier revision and what each earlier revision changed are "
        "lost (who made each revision and when is kept). See docs/security.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("document_id", help="the document's id; put -- before it if it begins with -")
        parser.add_argument(
            "--through",
            type=int,
            default=None,
            help="the last revision to fold (default: the current revision, keeping only the text)",
        )

    def handle(self, *args, document_id, through, **options):
        head = Document.objects.filter(pk=document_id).values_list("revision", flat=True).first()
        if head is None:
            raise CommandError(f"no document {document_id}")
        try:
            done = history.history_compact(document_id=document_id, through=head if through is None else through)
        except Refusal as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"{document_id}: history starts at revision {done.start}; "
            f"{done.revisions} revisions folded, {done.freed_bytes:,} bytes freed"
        )
