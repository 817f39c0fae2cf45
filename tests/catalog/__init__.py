"""The catalog: items, redemptions, payments, coupons and recommendations."""
