"""ActiveLoop: lab-in-the-loop active fine-tuning of protein language models."""

from activeloop.errors import ActiveLoopError, ConfigError, InputError, VariantError

__version__ = "0.1.0"

__all__ = ["ActiveLoopError", "ConfigError", "InputError", "VariantError", "__version__"]
