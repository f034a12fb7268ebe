"""Autonama's ingestor service."""
