"""OpenAPI description of GET /api/v1/admin/metrics, in the response envelope."""

from drf_spectacular.utils import OpenApiResponse

from apps.api.schema import success_envelope

ERROR_ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}


def _rates(description: str) -> dict:
    return {"type": "object", "description": description, "additionalProperties": {"type": "number"}}


_STATUS_RATES = _rates("Jobs per second by final status (`done`, `failed`); only statuses that occurred.")

METRICS_SCHEMA = {
    "type": "object",
    "properties": {
        "generated_at": {"type": "string", "format": "date-time"},
        "window_s": {"type": "integer", "description": "Seconds behind every rate."},
        "queues": {
            "type": "object",
            "description": "Per task.",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "depth": {"type": "integer", "description": "Queued jobs, those in retry backoff included."},
                    "namespaces": {
                        "type": "object",
                        "description": "Jobs waiting to be taken, per namespace that has any.",
                        "additionalProperties": {"type": "integer"},
                    },
                    "oldest_age_s": {
                        "type": "number",
                        "nullable": True,
                        "description": "Seconds since the oldest waiting job was submitted; null when none waits.",
                    },
                },
            },
        },
        "throughput": {"type": "object", "description": "Per task.", "additionalProperties": _STATUS_RATES},
        "throughput_by_namespace": {
            "type": "object",
            "description": "Per task, then per namespace.",
            "additionalProperties": {"type": "object", "additionalProperties": _STATUS_RATES},
        },
        "failed_ratio": _rates("Per task: the share of finished jobs that failed, from 0 to 1."),
        "batches": {
            "type": "object",
            "description": "Engine calls in the window, per engine name.",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "batches": {"type": "integer"},
                    "items": {"type": "integer"},
                    "mean_size": {"type": "number"},
                    "max_size": {"type": "integer"},
                    "mean_engine_ms": {"type": "number"},
                },
            },
        },
        "rejections": {
            "type": "object",
            "description": "Rejected requests per second, per reason (`queue_full`, `rate_limited`, "
            "`inference_redis_full`), then per namespace.",
            "additionalProperties": _rates("Per namespace."),
        },
        "engines": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "task": {"type": "string"},
                    "protocol": {"type": "string"},
                    "circuit": {
                        "type": "object",
                        "properties": {
                            "state": {"type": "string", "enum": ["closed", "open"]},
                            "failures": {"type": "integer", "description": "Transient failures in a row."},
                        },
                    },
                },
            },
        },
    },
}

METRICS_RESPONSES = {
    200: OpenApiResponse(success_envelope(METRICS_SCHEMA), description="The metrics snapshot."),
    400: OpenApiResponse(ERROR_ENVELOPE, description="Invalid `window`."),
    401: OpenApiResponse(ERROR_ENVELOPE, description="Missing, unknown, revoked or expired API key."),
    403: OpenApiResponse(ERROR_ENVELOPE, description="The API key has no admin grant."),
    503: OpenApiResponse(ERROR_ENVELOPE, description="The inference Redis is unavailable."),
}
