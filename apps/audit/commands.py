from django.core.management.base import BaseCommand

from .context import acting_as, command_actor


class AuditedCommand(BaseCommand):
    """A management command whose changes are recorded with the actor ``command:<name>``."""

    def execute(self, *args, **options):
        with acting_as(command_actor(self._command_name())):
            return super().execute(*args, **options)

    def _command_name(self) -> str:
        return type(self).__module__.rsplit(".", 1)[-1]
