"""Entry module for the Dramatiq command line: ``dramatiq apps.inference.worker``."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "redgx_project.settings.base")
django.setup()

from apps.inference import tasks  # noqa: E402, F401  (registers the actors)
