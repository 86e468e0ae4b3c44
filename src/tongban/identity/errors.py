"""Domain errors of the identity capability; messages are for the person who caused them."""


class IdentityError(Exception):
    """Refused input or state; ``field`` names the form field when there is one."""

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


class NotPermitted(IdentityError):
    """Refused because of who is asking (pages answer 403)."""

    def __init__(self, message: str, *, code: str = "forbidden") -> None:
        super().__init__(message, code=code)
