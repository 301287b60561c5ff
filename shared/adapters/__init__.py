"""Adapters: the ports of :mod:`shared.ports` implemented over real cloud clients and in memory."""
