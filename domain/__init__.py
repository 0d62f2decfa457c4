"""The pure job lifecycle: events, commands, the state machine and the decider."""
