"""Database access: SQLAlchemy Core over SQLite and PostgreSQL, one code path."""
