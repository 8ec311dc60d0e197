class ValidationFailed(Exception):
    """Bad input. `errors` maps each bad field to a short, user-facing reason."""

    def __init__(self, errors: dict[str, str], status: int = 422):
        super().__init__("validation failed")
        self.errors = errors
        self.status = status


class Conflict(Exception):
    """The write lost a race or named a stale version."""

    def __init__(self, message: str, status: int = 409, **details):
        super().__init__(message)
        self.message = message
        self.status = status
        self.details = details


class NotFound(Exception):
    """Missing, or belonging to another tenant: the two are never told apart."""
