class EngineError(Exception):
    """A failed engine call.

    ``transient`` is true when retrying the same request later may succeed (connection
    errors, timeouts, 429 and 5xx), false when the engine rejected the input.
    ``message`` is safe to show to the client that submitted the job. It is ``template``, an
    English message marked with ``gettext_noop``, filled with ``params``. Jobs store the template
    and the values, so the gateway shows the message in the language of whoever reads it.
    """

    def __init__(
        self,
        template: str,
        *,
        transient: bool,
        status: int | None = None,
        code: str = "engine_error",
        params: dict | None = None,
    ):
        self.template = template
        self.params = params or {}
        self.message = template % self.params
        super().__init__(self.message)
        self.transient = transient
        self.status = status
        self.code = code
