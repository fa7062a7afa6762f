"""Reproducible demo data for the reference province (Hải Dương)."""
