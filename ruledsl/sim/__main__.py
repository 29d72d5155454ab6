"""``python -m ruledsl.sim``: write a labelled event stream as JSON Lines (see ``ruledsl.sim.command``)."""

import sys

from ruledsl.sim.command import main

if __name__ == "__main__":
    sys.exit(main())
