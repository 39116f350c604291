"""Jobs through Hydra's launcher plugins (``jobs.py``): the study's runs and evaluations, and a
series of revisions of a released model, sent the same way (a local pool, Slurm, ...)."""
