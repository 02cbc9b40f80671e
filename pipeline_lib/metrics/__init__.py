"""Metrics gantry reports about itself (stage outcomes and durations to a Pushgateway)."""
