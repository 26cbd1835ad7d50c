"""StreamMaxing: Twitch → Discord go-live notifications around a Postgres job queue."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("streammaxing")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
