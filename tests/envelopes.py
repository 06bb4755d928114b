"""Assertions on the response envelope shared by the API tests."""


def data_of(response, status: int = 200) -> dict:
    """Assert a success envelope with the given status and return its data."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["ok"] is True
    return body["data"]


def error_of(response, status: int) -> dict:
    """Assert a failure envelope with the given status and return its error."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["ok"] is False
    return body["error"]
