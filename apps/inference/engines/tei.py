"""Client for engines that speak TEI's embedding protocol (POST /embed)."""

import logging
import math

from django.utils.translation import gettext_noop

from .errors import EngineError
from .http import client_for, post_json

logger = logging.getLogger(__name__)


class TeiClient:
    def __init__(self, base_url: str, timeout_s: float):
        self.base_url = base_url
        self.http = client_for(base_url, timeout_s)

    def embed(self, inputs: list[str], *, normalize: bool, truncate: bool) -> list[list[float]]:
        reply = post_json(self.http, "/embed", {"inputs": inputs, "normalize": normalize, "truncate": truncate})
        if not _is_vector_list(reply, len(inputs)):
            logger.warning(
                "Engine %s returned an unexpected /embed result shape for %d inputs", self.base_url, len(inputs)
            )
            raise EngineError(
                gettext_noop("The engine returned an unexpected result shape."),
                transient=True,
                code="engine_bad_response",
            )
        return reply


def _is_vector_list(reply, expected: int) -> bool:
    if not isinstance(reply, list) or len(reply) != expected:
        return False
    for vector in reply:
        if not isinstance(vector, list) or not vector:
            return False
        if not all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in vector):
            return False
    return True
