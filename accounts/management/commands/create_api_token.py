from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.services import api_token_create
from marketplace.lib.errors import DomainError


class Command(BaseCommand):
    help = "Create a personal API token for a user (by email) and print it once."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("username", help="the user's email address")
        parser.add_argument("--name", default="command line")
        parser.add_argument("--scopes", help="comma-separated: read,market,billing,owner (default: all)")
        parser.add_argument("--days", help="expires after this many days (default: MARKETPLACE_API_TOKEN_DEFAULT_DAYS)")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        user = User.objects.filter(email__iexact=options["username"]).first()
        if user is None:
            raise CommandError(f"No user with email {options['username']!r}.")
        scopes = [s.strip() for s in options["scopes"].split(",") if s.strip()] if options["scopes"] else None
        try:
            _, raw = api_token_create(actor=user, name=options["name"], scopes=scopes, expires_in_days=options["days"])
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(raw)
