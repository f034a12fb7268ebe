"""Autonama's fetcher service."""
