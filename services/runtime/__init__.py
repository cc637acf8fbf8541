"""Plumbing every segflow service runs on: settings, bus, outbox/inbox, database, telemetry, HTTP, auth.

No business rules live here.
"""
