"""Command registration for `ruledsl test` (being written)."""


def register(app) -> None:
    """Add this module's commands to the CLI app."""
