"""Earning rules: the engine, their admin, and what members earn by them."""
