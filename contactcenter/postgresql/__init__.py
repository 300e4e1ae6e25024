"""Django's PostgreSQL backend (psycopg2) with connections kept in a small per-process pool; see ``pool``."""
