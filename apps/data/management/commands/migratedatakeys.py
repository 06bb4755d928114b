"""Rename data keys from ``ns:<namespace>:<key>`` to the hash-tagged ``ns:{<namespace>}:<key>``."""

import logging

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from apps.data.keys import LEGACY_KEY_PATTERN, migrated_key

logger = logging.getLogger(__name__)

# At most this many conflicting key names are printed. The count in the message covers them all.
MAX_LISTED_CONFLICTS = 20


class Command(BaseCommand):
    @property
    def help(self) -> str:
        # A property, because argparse needs a plain str and the language is known only at run time.
        return _(
            "Rename data keys stored as ns:<namespace>:<key> to ns:{<namespace>}:<key>, the form in which "
            "every key of a namespace shares one Redis Cluster slot. Uses SCAN and RENAMENX in batches, never "
            "overwrites a key that already has the new name, and can run again safely. Run it against the "
            "standalone data Redis before turning REDGX_DATA_REDIS_CLUSTER on."
        )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help=_("Count the keys that would be renamed and change nothing.")
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=500,
            help=_("Keys per SCAN call and per round trip of renames. Default: 500."),
        )

    def handle(self, *args, dry_run: bool, batch_size: int, **options):
        if batch_size < 1:
            raise CommandError(_("--batch-size must be at least 1, not %(value)d.") % {"value": batch_size})
        if settings.REDGX_DATA_REDIS_CLUSTER:
            # Old names hash to arbitrary slots, and a cluster cannot RENAME across slots.
            raise CommandError(
                _(
                    "migratedatakeys works on a standalone data Redis only. Run it before turning "
                    "REDGX_DATA_REDIS_CLUSTER on, then move the data into the cluster."
                )
            )
        client = redis.Redis.from_url(settings.REDGX_DATA_REDIS_URL)
        renamed, conflicts = 0, []
        for batch in self._legacy_batches(client, batch_size):
            if dry_run:
                exists = self._send(client, [("EXISTS", new) for _old, new in batch])
                renamed += exists.count(0)
                conflicts += [old for (old, _new), found in zip(batch, exists, strict=True) if found]
                continue
            replies = self._send(client, [("RENAMENX", old, new) for old, new in batch])
            for (old, _new), reply in zip(batch, replies, strict=True):
                if reply == 1:
                    renamed += 1
                elif reply == 0:
                    conflicts.append(old)
                # Any other reply is an error: the key expired or was deleted after SCAN saw it.

        self._report(renamed, conflicts, dry_run=dry_run)

    @staticmethod
    def _legacy_batches(client: redis.Redis, batch_size: int):
        """Yield lists of (old name, new name) from SCAN, one list per SCAN call that found any."""
        cursor = None
        while cursor != 0:
            cursor, keys = client.scan(cursor or 0, match=LEGACY_KEY_PATTERN, count=batch_size)
            batch = [(key, new) for key in keys if (new := migrated_key(key)) is not None]
            if batch:
                yield batch

    @staticmethod
    def _send(client: redis.Redis, commands: list[tuple]) -> list:
        pipeline = client.pipeline(transaction=False)
        for command in commands:
            pipeline.execute_command(*command)
        return pipeline.execute(raise_on_error=False)

    def _report(self, renamed: int, conflicts: list[bytes], *, dry_run: bool) -> None:
        if dry_run:
            message = _("Dry run: %(count)d keys would be renamed. Nothing was changed.")
        else:
            message = _("Renamed %(count)d keys.")
        self.stdout.write(message % {"count": renamed})
        if dry_run:
            logger.info("migratedatakeys dry run: %d keys to rename, %d conflicts", renamed, len(conflicts))
        else:
            logger.info("migratedatakeys renamed %d keys, %d conflicts", renamed, len(conflicts))
        if not conflicts:
            return
        self.stderr.write(
            _(
                "%(count)d keys were left under their old names because a key with the new name exists. "
                "Compare each pair, delete the one to drop, and run the command again:"
            )
            % {"count": len(conflicts)}
        )
        for old in conflicts[:MAX_LISTED_CONFLICTS]:
            self.stderr.write("  " + old.decode("utf-8", errors="backslashreplace"))
