"""Kernel — what every module may import: db, bus, audit, storage, calendar, errors, pagination, ids, clock."""
