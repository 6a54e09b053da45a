"""The transformer FFN studies (docs/theory.md §6): configs in, run files, figures and a report out."""
