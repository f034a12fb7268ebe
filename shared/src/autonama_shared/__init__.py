"""Autonama's shared library: what the services and the CLI have in common.

The band maths, signal rules and event schemas are pure code; the Kafka and
PostgreSQL helpers are thin adapters. Nothing here runs on its own.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
