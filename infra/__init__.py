"""Infrastructure: Personalize schemas, deploy helpers and the local stack (dev tooling, never deployed)."""
