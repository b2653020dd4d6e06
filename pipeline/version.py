"""The version, in a room of its own so that the modules writing it (the encoder's scope,
the CLI) do not import the package's face, which hands on the whole public API."""

__version__ = "0.1.0"  # as pyproject.toml's; tests/test_api.py holds the two together
