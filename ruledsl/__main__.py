"""``python -m ruledsl``: the same as the ``ruledsl`` command."""

from .cli import main

if __name__ == "__main__":
    main()
