"""A partner key's token bucket (tests/partners/test_api_keys.py) on the cluster."""

from tests.partners.test_api_keys import (  # noqa: F401 (run again here, on the cluster)
    test_a_key_past_its_burst_is_rate_limited_until_its_bucket_refills,
)
