"""``python -m debias.rewrite``: rewrite and verify a data order's tail (see ``debias.rewrite.cli``)."""

from debias.rewrite.cli import main

if __name__ == "__main__":
    main()
