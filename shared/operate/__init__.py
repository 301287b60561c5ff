"""Operator use cases behind ``storyrec``'s commands: bootstrap, the pipeline's status, evaluation."""
