"""The common core every package may use: one error base and its wrapper for commands
(``errors``), input and config errors, atomic writes, the records that pass between stages and
their file names (``contracts``), checkpoint weight checks, lazy exports and the config folder.
It imports nothing else from the project."""
