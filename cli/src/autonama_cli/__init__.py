"""The `autonama` command."""
