"""Capture: the app's stories, users and clicks become ML records (issue 4)."""
