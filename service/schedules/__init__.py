"""Schedules as the service runs them: commands handled against the store, fires from QStash."""
