from .context import Actor, ActorKind, acting_as
from .source import source_address

API_PREFIX = "/api/"


class AuditActorMiddleware:
    """Makes the logged-in user the actor of changes made during admin (non-API) requests.

    API views set their own actor (the calling key), because DRF authenticates
    inside the view, after this middleware has run.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(API_PREFIX):
            return self.get_response(request)

        def actor() -> Actor:
            user = getattr(request, "user", None)
            name = user.get_username() if user is not None and user.is_authenticated else "anonymous"
            return Actor(name=name, kind=ActorKind.USER, address=source_address(request))

        with acting_as(actor):
            return self.get_response(request)
