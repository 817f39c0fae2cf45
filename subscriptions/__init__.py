"""Live events: published after commit to Redis pub/sub, fanned out in-process to subscribers."""
