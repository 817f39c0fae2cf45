"""The business of the points mall: no GraphQL, no HTTP; every service owns its transaction."""
