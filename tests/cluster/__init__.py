"""The flash-sale, event bus and rate-limit tests again, on a Redis Cluster of three masters."""
