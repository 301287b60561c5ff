"""AWS Lambda handlers: import on the export's manifest, monthly training, the monitor.

Handlers stay thin: Powertools parses the event and emits metrics, the handler binds the invocation's
one correlation id for the product's log (:mod:`shared.logs`); the work is one use case of
:mod:`shared.personalize`. Settings are read per invocation, clients are built
per invocation; nothing here imports pandas or dev tooling.
"""
