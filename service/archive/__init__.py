"""Retention: archive finished jobs into verifiable files, then remove them with a tombstone."""
