"""Flash sales: stock held in Redis and decided by one Lua script, recorded in PostgreSQL."""
