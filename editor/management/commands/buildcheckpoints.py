from django.core.management.base import BaseCommand

from editor.domain import history
from editor.models import Document


class Command(BaseCommand):
    help = (
        "Store the history checkpoints of documents ahead of time, so that the first look at "
        "an old revision does not replay a long history."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "document_ids",
            nargs="*",
            help="ids of documents (default: every document); put -- before them if one begins with -",
        )

    def handle(self, *args, document_ids, **options):
        documents = Document.objects.order_by("pk")
        if document_ids:
            documents = documents.filter(pk__in=document_ids)
        for document_id, revision in documents.values_list("pk", "revision"):
            _, replayed = history.text_at(document_id=document_id, revision=revision)
            self.stdout.write(f"{document_id}: revision {revision}, {replayed} revisions replayed")
