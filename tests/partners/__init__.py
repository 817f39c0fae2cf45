"""Partners: API keys, scopes, rate limits and what partners may see."""
