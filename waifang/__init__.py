"""waifang: simulate collection policies and choose field visits by optimisation."""

__version__ = "0.1.0"
