"""The online test (docs/experiment.md): arms by a salted hash of the uid, the statistics of the readers'
clicks per arm, and the verdict that promotes or retires a challenger. Pure code: no clients, no clock."""
