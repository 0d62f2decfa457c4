"""Errors the API answers with, as QStash does: a status and `{"error": "..."}`."""


class BrokerError(Exception):
    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(BrokerError):
    status_code = 400


class Unauthorized(BrokerError):
    status_code = 401


class NotFound(BrokerError):
    status_code = 404
