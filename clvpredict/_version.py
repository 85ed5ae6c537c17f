"""The installed clvpredict version (read by the build, the model files and the CLI)."""

__version__ = "0.1.0"
