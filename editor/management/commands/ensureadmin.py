import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "On a database with no users, create superuser 'admin' and print its password once."

    def handle(self, *args, **options):
        users = get_user_model().objects
        if users.exists():
            return
        password = secrets.token_urlsafe(12)
        users.create_superuser("admin", "", password)
        self.stdout.write(f"Created user 'admin' with password {password!r}: sign in and change it.")
