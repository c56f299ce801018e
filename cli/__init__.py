"""The ``custody`` command line.

``__version__`` is the package's one version: ``pyproject.toml`` reads it from here, so
``custody --version`` prints it without reading package metadata at start-up."""

__version__ = "0.1.0"
