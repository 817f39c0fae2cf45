"""The points ledger: append-only entries, FIFO lots, expiry, reversals; one transaction each."""
