"""`python -m streammaxing` — same as the `streammaxing` console script."""

import sys

from streammaxing.cli import main

sys.exit(main())
