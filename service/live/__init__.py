"""Live notifications: a process's commit feed (in-process and NOTIFY) and the streams
that wait on it."""
