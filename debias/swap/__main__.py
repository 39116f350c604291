"""``python -m debias.swap``: swap the gendered words of a file (see ``debias.swap.cli``)."""

from debias.swap.cli import main

if __name__ == "__main__":
    main()
