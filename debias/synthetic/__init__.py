"""The offline synthetic corpus with a bias of known strength: its stories and probes
(``stories``) and their word lists and templates (``vocab``)."""
