"""Errors raised by udip-gwas; each message names the file, subject, column or key at fault."""

from __future__ import annotations


class UdipGwasError(Exception):
    """Base class of the toolkit's errors."""


class ConfigError(UdipGwasError, ValueError):
    """A run configuration or command-line value is wrong."""


class InputError(UdipGwasError, ValueError):
    """An input file is missing or malformed."""


class NoSubjectsLeftError(UdipGwasError, RuntimeError):
    """Every subject was excluded; the exclusions file says why."""
