"""storyrec's common code: settings, ports and adapters, and the pipeline's core logic."""
