"""Entry module for the Dramatiq command line: ``dramatiq apps.inference.worker``."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "redgx_project.settings.base")
django.setup()

import dramatiq  # noqa: E402

from apps.inference import tasks  # noqa: E402, F401  (registers the actors)
from apps.inference.engines import registry  # noqa: E402
from apps.inference.sweeper import Sweeper  # noqa: E402


class SweeperMiddleware(dramatiq.Middleware):
    """Run the sweeper thread in each worker process while the worker runs."""

    def after_worker_boot(self, broker, worker) -> None:
        registry.use_background_refresh()
        self.sweeper = Sweeper()
        self.sweeper.start()

    def before_worker_shutdown(self, broker, worker) -> None:
        self.sweeper.stop()


dramatiq.get_broker().add_middleware(SweeperMiddleware())
