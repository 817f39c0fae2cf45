"""Flash sales: admin, entries, holds, the reconciler and the live stock, under attack."""
