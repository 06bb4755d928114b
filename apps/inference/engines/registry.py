"""Engine endpoints per task, from settings."""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class EngineConfig:
    task: str
    base_url: str
    protocol: str
    # A call goes out when batch_size inputs have gathered or max_wait_ms has
    # passed since the first of them, whichever comes first.
    batch_size: int
    max_wait_ms: int
    max_concurrent_calls: int
    timeout_s: float


def engine_for(task: str) -> EngineConfig:
    if task != "embed":
        raise KeyError(task)
    return EngineConfig(
        task="embed",
        base_url=settings.REDGX_EMBED_ENGINE_URL,
        protocol="tei",
        batch_size=settings.REDGX_EMBED_BATCH_SIZE,
        max_wait_ms=settings.REDGX_EMBED_MAX_WAIT_MS,
        max_concurrent_calls=settings.REDGX_EMBED_MAX_CONCURRENT_CALLS,
        timeout_s=settings.REDGX_EMBED_TIMEOUT_S,
    )


def configured_engines() -> list[EngineConfig]:
    return [engine_for("embed")]
