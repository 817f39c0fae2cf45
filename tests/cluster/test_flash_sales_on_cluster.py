"""The flash-sale tests on the cluster. From tests/flash_sales/test_adversarial.py: thousands
of entries on two servers, a burst above the Redis pool, a server killed mid-sale, a live
subscriber, racing reconcilers and a key sent twice at once. From test_flash_sales.py: the
stock of several sales read at once (their keys in different slots), a cancelled redemption's
unit given back (a transaction on one sale's slot), and the entry attempts' rate limit."""

from tests.flash_sales.test_adversarial import (  # noqa: F401 (run again here, on the cluster)
    test_5000_entries_of_1000_members_on_two_servers_sell_exactly_the_stock,
    test_a_burst_above_the_redis_pool_size_waits_for_connections_instead_of_failing,
    test_a_server_killed_mid_sale_leaves_holds_the_reconciler_resolves_once,
    test_a_subscriber_on_one_server_sees_the_stock_sold_on_another_at_10_a_second,
    test_the_same_key_sent_twice_at_once_to_two_servers_buys_once,
    test_two_reconcilers_at_once_resolve_each_overdue_hold_exactly_once,
)
from tests.flash_sales.test_flash_sales import (  # noqa: F401 (run again here, on the cluster)
    test_a_cancel_while_the_sale_is_live_returns_the_unit,
    test_flash_sales_filter_by_every_status,
    test_the_fourth_attempt_within_a_minute_is_rate_limited,
)
