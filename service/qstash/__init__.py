"""The QStash edge: signed deliveries in, the outbox relay out, and the sweeper QStash's
schedule runs."""
