"""Read models derived from the event log; each can be dropped and rebuilt from it."""
