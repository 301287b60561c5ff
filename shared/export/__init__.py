"""Export: ML records in Firestore → Personalize bulk CSVs on S3, backed up to GCS.

The core (``job``, ``rows``, ``csvfiles``, ``window``, ``manifest``, ``layout``) is pure
and talks to the world only through the ports; ``wiring`` builds real adapters from Settings.
"""

from shared.export.job import ExportDeps, ExportFailed, ExportOptions, ExportResult, run_export

__all__ = ["ExportDeps", "ExportFailed", "ExportOptions", "ExportResult", "run_export"]
