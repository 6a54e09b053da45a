"""CPU kernels of the fitting engine: native C (compiled on first use), fused Horner and PolyNorm forms,
and the allocator setting that keeps freed pages."""
