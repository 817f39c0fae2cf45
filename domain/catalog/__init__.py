"""The catalog: items members spend points on, their redemptions, coupons and recommendations."""
