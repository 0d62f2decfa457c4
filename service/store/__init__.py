"""Storage: the PostgreSQL server and pool, migrations, the event store, and one owner per
table's queries."""
