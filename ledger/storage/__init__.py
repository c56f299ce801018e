"""Backend selection (SQLite default, PostgreSQL) and the canonical msgpack transcoder."""
