class EngineError(Exception):
    """A failed engine call.

    ``transient`` tells whether retrying the same request later may succeed
    (connection errors, timeouts, 429 and 5xx) or not (the engine rejected the input).
    ``message`` is safe to show to the client that submitted the job.
    """

    def __init__(self, message: str, *, transient: bool, status: int | None = None, code: str = "engine_error"):
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.status = status
        self.code = code
