"""Outside systems of the procedures module, each behind a small interface with a local simulator."""
