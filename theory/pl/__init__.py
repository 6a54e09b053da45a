"""The exact piecewise-linear engine (docs/theory.md §4): PL functions, their propagation through ReLU
networks, piece counts and exact sup errors against polynomials."""
