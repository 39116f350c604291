"""Data on disk: Megatron ``.bin/.idx`` datasets (``indexed``), data orders read by step
(``order``), building one from a text corpus (``corpus``, ``text_corpus``, ``bpe``), the tokenizer
files and their fit to a dataset, and the registered downloads (``fetch``)."""
