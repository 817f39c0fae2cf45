"""Storage: Tortoise models and migrations for PostgreSQL, Redis keys and scripts."""
