"""The rate study (docs/theory.md §7): sweep configs and their runner, expression targets, the results table
and the report."""
