"""theory: exact SymPy constructions and certificates for the paper's statements (docs/theory.md §2-5).

Only ``theory.export`` touches torch.
"""
