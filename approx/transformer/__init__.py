"""The transformer FFN study's model side (docs/theory.md §6): the decoder, its dense and MoE FFNs,
the byte corpus, the training loop, the analyses, memory accounting and the bf16 probe."""
