"""Autonama's alerts_api service."""
