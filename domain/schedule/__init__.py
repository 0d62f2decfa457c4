"""A schedule's pure core: its events, commands, Machine and decider, and its cron ticks.

A schedule is a stream in the same log as jobs; each tick it fires creates at most one job.
Nothing here reads a clock or does I/O: times, and the facts of other streams a decision
needs (is the previous job still active?), come in on the command.
"""
