"""The jobtrail service: the composition root (app, settings, logs, background, clock) and
one package per concept it wires: store, jobs, qstash, live, health, auth, api, dashboard, cli, broker."""
