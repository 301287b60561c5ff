"""``storyrec-dev simulate``: the whole pipeline lived through simulated days (docs/simulate.md)."""
