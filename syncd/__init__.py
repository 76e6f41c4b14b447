"""syncd: keep contact records in step between SaaS apps, as declared in YAML."""

__version__ = "0.1.0"
__all__ = ["__version__"]
