"""jobtrail for its users: the typed client of the HTTP API (`jobtrail.client`)."""
