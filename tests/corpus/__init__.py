"""The bad-input corpus: hostile and legal-but-extreme inputs, each with the outcome it must have."""
