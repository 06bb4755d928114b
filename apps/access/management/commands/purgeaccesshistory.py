from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.access.models import AccessRecord

BATCH_SIZE = 10_000


class Command(BaseCommand):
    @property
    def help(self) -> str:
        # A property, because argparse needs a plain str and the language is known only at run time.
        return _("Delete access history rows older than the retention period (REDGX_ACCESS_RETENTION_DAYS).")

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help=_("Keep rows of the last DAYS days instead of REDGX_ACCESS_RETENTION_DAYS."),
        )
        parser.add_argument(
            "--dry-run", action="store_true", help=_("Count the rows that would be deleted without deleting them.")
        )

    def handle(self, *args, days: int | None, dry_run: bool, **options):
        days = settings.REDGX_ACCESS_RETENTION_DAYS if days is None else days
        if days < 1:
            raise CommandError(_("Invalid --days %(days)d: keep at least 1 day.") % {"days": days})
        cutoff = timezone.now() - timedelta(days=days)
        old = AccessRecord.objects.filter(time__lt=cutoff)
        if dry_run:
            message = _("%(count)d access rows older than %(cutoff)s would be deleted.")
            self.stdout.write(message % {"count": old.count(), "cutoff": f"{cutoff:%Y-%m-%d %H:%M} UTC"})
            return

        # Deleting in batches keeps each transaction and its locks short on a large table.
        deleted = 0
        while True:
            ids = list(old.order_by("time").values_list("pk", flat=True)[:BATCH_SIZE])
            if not ids:
                break
            deleted += AccessRecord.objects.filter(pk__in=ids).delete()[0]
        message = _("Deleted %(count)d access rows older than %(cutoff)s.")
        self.stdout.write(message % {"count": deleted, "cutoff": f"{cutoff:%Y-%m-%d %H:%M} UTC"})
