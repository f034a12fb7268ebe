"""Autonama's analyzer service."""
