"""``python -m ruledsl``: the same as the ``ruledsl`` command."""

from ruledsl.cli.app import main

if __name__ == "__main__":
    main()
