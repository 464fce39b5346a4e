"""The error of case and ingest operations that the API and pages show as a 4xx message."""


class CaseError(ValueError):
    """A case operation that cannot be done; the message is shown to the user."""
