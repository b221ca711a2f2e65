"""xinyong (信用): a public credit information platform."""

__version__ = "0.1.0"
