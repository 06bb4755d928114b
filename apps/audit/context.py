"""The actor of the current change, set per admin request, admin API call or management command."""

import contextlib
import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _


class ActorKind(models.TextChoices):
    USER = "user", _("admin user")
    API_KEY = "api_key", _("API key")
    COMMAND = "command", _("management command")
    SYSTEM = "system", _("system")


@dataclass(frozen=True)
class Actor:
    """The person or program behind a change, as stored in audit rows."""

    name: str
    kind: str
    address: str | None = None


# An Actor, or a callable returning one, so that the admin middleware can defer reading
# request.user until a change is actually recorded.
_actor: ContextVar[Actor | Callable[[], Actor] | None] = ContextVar("audit_actor", default=None)
# An action name that replaces "update" for changes made inside rotate_api_key.
_action: ContextVar[str | None] = ContextVar("audit_action", default=None)


def current_actor() -> Actor:
    """Return the actor set for this context, or a system actor named after the running program."""
    actor = _actor.get()
    if callable(actor):
        actor = actor()
    if actor is not None:
        return actor
    # NOTE: code that changes rows without setting an actor (a shell, a data migration)
    # is recorded under the program name, e.g. "system:manage.py".
    program = sys.argv[0].rsplit("/", 1)[-1] if sys.argv and sys.argv[0] else "python"
    return Actor(name=f"system:{program}", kind=ActorKind.SYSTEM)


@contextlib.contextmanager
def acting_as(actor: Actor | Callable[[], Actor]) -> Iterator[None]:
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def api_key_actor(prefix: str, address: str | None) -> Actor:
    return Actor(name=f"api-key:{prefix}", kind=ActorKind.API_KEY, address=address)


def command_actor(command_name: str) -> Actor:
    return Actor(name=f"command:{command_name}", kind=ActorKind.COMMAND)


@contextlib.contextmanager
def audit_action(action: str) -> Iterator[None]:
    """Record updates made inside this block under ``action`` (e.g. rotate) instead of update."""
    token = _action.set(action)
    try:
        yield
    finally:
        _action.reset(token)


def current_action_override() -> str | None:
    return _action.get()
