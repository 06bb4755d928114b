"""A fake engine for RedGX's JSON translation protocol, for tests and bench/.

It serves POST /translate, GET /info and GET /health as docs/engine-protocols.md
describes. A translation is a reversible transform of the text (see fake_translation),
so tests can assert it and translate it back. Extra switches beside FakeEngine's:

- max_batch_size: the limit /info reports; a larger call fails with 413.
- pairs: the (source, target) pairs served; another pair fails with 422
  ``unsupported_pair``.
- reject_marker: a text containing it fails the call with 422 ``input_rejected``.

    python -m tests.engines.fake_translate --port 8083
"""

from __future__ import annotations

from .fake_base import FakeEngine, LockedSwitch, Rejected, Reply, Request, decode_json_body, run_standalone

DEFAULT_PAIRS = (("en", "pt-BR"), ("pt-BR", "en"))
DEFAULT_MAX_BATCH_SIZE = 16
MODEL_ID = "fake-translate"


def fake_translation(text: str, source: str, target: str) -> str:
    """Return the text reversed behind a "[target] " tag.

    The transform is its own inverse: fake_translation(result, target, source) returns the text.
    """
    prefix = f"[{source}] "
    if text.startswith(prefix):
        return text[len(prefix) :][::-1]
    return f"[{target}] {text[::-1]}"


class FakeTranslateEngine(FakeEngine):
    kind = "translate"

    max_batch_size = LockedSwitch()
    pairs = LockedSwitch()
    reject_marker = LockedSwitch()

    def __init__(
        self,
        *,
        pairs: tuple[tuple[str, str], ...] = DEFAULT_PAIRS,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        seed: int = 0,
    ):
        self._defaults = {"pairs": pairs, "max_batch_size": max_batch_size}
        super().__init__(seed=seed)

    def apply_defaults(self) -> None:
        self.pairs = self._defaults["pairs"]
        self.max_batch_size = self._defaults["max_batch_size"]
        self.reject_marker = None

    def route(self, request: Request) -> Reply:
        if request.method == "GET" and request.path == "/info":
            return Reply.json(
                200,
                {
                    "pairs": [list(pair) for pair in self.pairs],
                    "max_batch_size": self.max_batch_size,
                    "model": MODEL_ID,
                },
            )
        if request.method == "POST" and request.path == "/translate":
            return self._translate(request)
        return super().route(request)

    def _translate(self, request: Request) -> Reply:
        body = decode_json_body(request)
        texts = body.get("texts") if isinstance(body, dict) else None
        if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
            self.begin_call(request, 0)
            raise Rejected(400, "texts must be a list of strings", "input_rejected")
        source, target = body.get("source"), body.get("target")
        self.begin_call(request, len(texts), {"source": source, "target": target})

        if not texts:
            raise Rejected(400, "texts must not be empty", "input_rejected")
        if len(texts) > self.max_batch_size:
            raise Rejected(413, f"batch size {len(texts)} > max_batch_size {self.max_batch_size}", "input_too_long")
        if (source, target) not in self.pairs:
            raise Rejected(422, f"cannot translate from {source} to {target}", "unsupported_pair")
        marker = self.reject_marker
        for index, text in enumerate(texts):
            if marker is not None and marker in text:
                raise Rejected(422, f"text {index} contains the rejected marker {marker!r}", "input_rejected")
        translations = [fake_translation(text, source, target) for text in texts]
        return Reply.json(200, {"translations": translations, "model": MODEL_ID})


if __name__ == "__main__":
    run_standalone(FakeTranslateEngine(), "Fake RedGX translation engine")
