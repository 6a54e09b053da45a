"""theory: exact SymPy constructions and certificates for the paper's statements (THEORY.md §2-5).

Only ``theory.export`` touches torch.
"""
