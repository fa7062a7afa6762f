"""Smart Province Platform — nền tảng tỉnh thông minh."""

__version__ = "0.1.0"
