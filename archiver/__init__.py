"""archiver: keep the sources a paper cites."""

__version__ = "0.1.0"
