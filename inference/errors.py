"""Errors of the inference app (torch-free, so the web process can import them cheaply)."""

from __future__ import annotations


class InferenceError(ValueError):
    """A request that cannot be carried out; the message is shown to the user (4xx)."""


class JobConflict(InferenceError):
    """The job's state does not allow the request, e.g. cancelling a finished job (409)."""


class JobStopped(Exception):
    """The job was cancelled or taken over by another attempt while this worker ran it."""


class JobInputError(ValueError):
    """The job cannot run on its input or with its model; retrying would not help."""


class ModelLoadError(JobInputError):
    """A checkpoint is missing, fails its sha256 check, or does not fit its registry entry."""
