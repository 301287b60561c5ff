"""A local, Amazon Personalize-compatible engine for development and tests (never deployed)."""

from infra.local.personalize.server import ServerHandle, start_server

__all__ = ["ServerHandle", "start_server"]
