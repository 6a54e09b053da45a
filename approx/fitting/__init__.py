"""The fitting engine (docs/theory.md §7): stacked models, targets, the optimisers (Adam, L-BFGS,
Levenberg–Marquardt, VarPro), initialisation, metrics, multi-stage fits and the rate protocol."""
