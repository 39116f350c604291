"""Swapping gendered words in text: the spaCy-based ``PronounSwapper`` (``swapper``), its
pronoun tables (``pronouns``) and rules (``pronoun_rules``), the opt-in gendered nouns
(``gendered_nouns``) and the command that swaps a file (``cli``; ``python -m debias.swap``)."""
