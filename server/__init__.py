"""The process: Starlette app, lifespan, settings, authentication, embedded backends, CLI."""
