from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.services import api_token_create


class Command(BaseCommand):
    help = "Create a personal API token for a user (by email) and print it once."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("username", help="the user's email address")
        parser.add_argument("--name", default="command line")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        user = User.objects.filter(email__iexact=options["username"]).first()
        if user is None:
            raise CommandError(f"No user with email {options['username']!r}.")
        _, raw = api_token_create(actor=user, name=options["name"])
        self.stdout.write(raw)
