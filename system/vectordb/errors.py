"""Errors with the HTTP status Qdrant gives them (see qdrant's src/actix/helpers.rs)."""

from __future__ import annotations


class ApiError(Exception):
    status = 400
    prefix = "Wrong input"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def text(self) -> str:
        return f"{self.prefix}: {self.message}"


class BadInput(ApiError):
    pass


class MethodNotAllowed(ApiError):
    """A route that exists, for other methods: `allow` is their list, the Allow header."""

    status = 405
    prefix = "Error"

    def __init__(self, allow: str) -> None:
        super().__init__("Method Not Allowed")
        self.allow = allow


class NotFound(ApiError):
    status = 404
    prefix = "Not found"


class AlreadyExists(ApiError):
    status = 409
    prefix = "Already exists"


class Unavailable(ApiError):
    status = 503
    prefix = "Service unavailable"


class Forbidden(ApiError):
    status = 403
    prefix = "Forbidden"
