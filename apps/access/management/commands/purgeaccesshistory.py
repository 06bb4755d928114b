from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apps.access.models import AccessRecord

BATCH_SIZE = 10_000


class Command(BaseCommand):
    help = "Delete access history rows older than the retention period (REDGX_ACCESS_RETENTION_DAYS)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Keep rows of the last DAYS days instead of REDGX_ACCESS_RETENTION_DAYS.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Count the rows that would be deleted; delete none.")

    def handle(self, *args, days: int | None, dry_run: bool, **options):
        days = settings.REDGX_ACCESS_RETENTION_DAYS if days is None else days
        if days < 1:
            raise CommandError(f"Invalid --days {days}: keep at least 1 day.")
        cutoff = timezone.now() - timedelta(days=days)
        old = AccessRecord.objects.filter(time__lt=cutoff)
        if dry_run:
            self.stdout.write(f"{old.count()} access rows older than {cutoff:%Y-%m-%d %H:%M} UTC would be deleted.")
            return

        # Deleting in batches keeps each transaction and its locks short on a large table.
        deleted = 0
        while True:
            ids = list(old.order_by("time").values_list("pk", flat=True)[:BATCH_SIZE])
            if not ids:
                break
            deleted += AccessRecord.objects.filter(pk__in=ids).delete()[0]
        self.stdout.write(f"Deleted {deleted} access rows older than {cutoff:%Y-%m-%d %H:%M} UTC.")
