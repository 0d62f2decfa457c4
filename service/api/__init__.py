"""The HTTP API: thin controllers over the domain, the store and the projections."""
