"""The schema's numbered SQL files, shipped as package data so an installed jobtrail can migrate.

`service.store.migrate` reads them through importlib.resources; this module holds no code.
"""
