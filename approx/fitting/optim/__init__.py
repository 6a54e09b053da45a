"""Per-model optimisers for a stack of models (docs/theory.md §7): each decision is taken per row.

``state`` holds what the phases of one fit share; ``adam``, ``lbfgs`` (with ``line_search``) and
``levenberg_marquardt`` each advance the active rows of a state through one phase.
"""
