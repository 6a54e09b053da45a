"""The constructions behind ``polylab construct NAME``: one module per theorem.

Each module ``experiments.constructions.<name>`` exposes ``HELP`` (one line), ``add_arguments(parser)``
and ``run(args) -> int``, like a ``polylab`` command; list a new one in ``CONSTRUCTIONS``.
"""

CONSTRUCTIONS = ("lemma2", "theorem2", "theorem3")
