"""How many statements and commands the hot paths send to PostgreSQL and Redis, pinned."""
