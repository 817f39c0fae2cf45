"""Earning rules: how a brand's members earn, as data its admins edit."""
