from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from editor.core import ot
from editor.domain import services


class Command(BaseCommand):
    help = "Create a document and print its id."

    def add_arguments(self, parser):
        parser.add_argument("title")
        parser.add_argument("--owner", required=True, help="username of the owner")
        parser.add_argument("--content-file", type=Path, help="UTF-8 file with the initial text")

    def handle(self, *args, title, owner, content_file, **options):
        try:
            user = get_user_model().objects.get_by_natural_key(owner)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user named {owner!r}") from None
        content = ""
        if content_file is not None:
            try:
                content = content_file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"cannot read {content_file}: {exc}") from None
        try:
            document = services.document_create(title=title, owner=user, content=content)
        except ot.OperationError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(document.pk)
