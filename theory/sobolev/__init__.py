"""The Sobolev construction of Theorem 3 (docs/theory.md §5): the target and its norms, the partition of
unity, Taylor tables, the approximant f_N, cell polynomials, jets and the certified error."""
