"""Jobs in motion: the command handler (load, decide, append, tell its observers), the outbox messages a
decision calls for, and the registry of kinds with their batch functions."""
