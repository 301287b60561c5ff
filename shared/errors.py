"""Domain errors. Adapters translate cloud SDK exceptions into these."""

from __future__ import annotations


class StoryrecError(Exception):
    """Base class for every error storyrec raises on purpose.

    ``retryable`` is the one verdict on whether repeating the same call may succeed; ``shared.retry``
    reads it, and every adapter's translation table picks the class (and so the verdict) per error.
    """

    retryable: bool = False


class ConfigError(StoryrecError):
    """A setting is missing or malformed; the message names the variable."""


class NotFound(StoryrecError):
    """The addressed document, object or resource does not exist."""


class AlreadyExists(StoryrecError):
    """A create-only write met an existing document or object."""


class PreconditionFailed(StoryrecError):
    """A conditional write lost its race (generation or version mismatch)."""


class ServiceUnavailable(StoryrecError):
    """A backing service could not be reached; the operation may be retried."""

    retryable = True


class InvalidRequest(StoryrecError):
    """The service refused the request itself (a malformed path, a document over its size limit)."""


class AccessDenied(StoryrecError):
    """Credentials are missing, invalid or lack a permission; fix the deployment, then retry."""


class NotReady(StoryrecError):
    """A waited-for resource did not settle in time."""
