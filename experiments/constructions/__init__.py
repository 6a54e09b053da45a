"""The constructions behind ``polylab construct NAME``: one module per theorem.

Each module ``experiments.constructions.<name>`` exposes ``HELP`` (one line), ``add_arguments(parser)``
and ``run(args) -> int``, like a ``polylab`` command. To add one (e.g. theorem3), write the module and
add its name to ``CONSTRUCTIONS``; a listed name whose module is missing says "not built yet".
"""

#: construction name -> one line shown while its module is missing
CONSTRUCTIONS: dict[str, str] = {
    "lemma2": "ReLU network approximating PolyReLU_a on [-1,1] (Lemma 2)",
    "theorem2": "ReLU network approximating a normalised PolyReLU network (Theorem 2)",
    "theorem3": "PolyReLU network approximating a Sobolev function (Theorem 3)",
}
