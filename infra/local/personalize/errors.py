"""Errors shaped as Amazon Personalize returns them (HTTP 400, JSON ``__type`` + ``message``)."""

from __future__ import annotations


class PersonalizeError(Exception):
    """Base error; the class name is the wire ``__type``."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def code(self) -> str:
        return type(self).__name__

    def body(self) -> dict[str, str]:
        return {"__type": self.code, "message": self.message}


class InvalidInputException(PersonalizeError):
    """A parameter is malformed or inconsistent."""


class ResourceNotFoundException(PersonalizeError):
    """The ARN names nothing."""


class ResourceAlreadyExistsException(PersonalizeError):
    """A resource of that name already exists."""


class LimitExceededException(PersonalizeError):
    """A quota (e.g. pending import jobs) is reached."""


class ResourceInUseException(PersonalizeError):
    """The resource is used by another one or is not in a usable state."""


class UnknownOperationException(PersonalizeError):
    """The X-Amz-Target or path names no operation."""
