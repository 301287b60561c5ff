"""Export: ML records in Firestore → Personalize bulk CSVs on S3, backed up to GCS.

The core (``run``, ``job``, ``shards``, ``rows``, ``csvfiles``, ``window``, ``guards``) is pure and talks to
the world only through the ports; the manifest and its keys are :mod:`shared.manifest`; ``wiring``
builds real adapters from Settings.
"""

from shared.export.job import ExportDeps, ExportFailed, ExportOptions, ExportResult
from shared.export.run import run_export

__all__ = ["ExportDeps", "ExportFailed", "ExportOptions", "ExportResult", "run_export"]
