"""Command registration for `ruledsl run` (being written)."""


def register(app) -> None:
    """Add this module's commands to the CLI app."""
