"""Encoding of stored bytes in responses: UTF-8 text when they decode, base64 otherwise."""

import base64


def encode_value(raw: bytes) -> dict:
    try:
        return {"value": raw.decode("utf-8"), "encoding": "utf-8"}
    except UnicodeDecodeError:
        return {"value": base64.b64encode(raw).decode("ascii"), "encoding": "base64"}
