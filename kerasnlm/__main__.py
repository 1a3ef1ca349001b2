"""`python -m kerasnlm ...`: the same as the `kerasnlm` command."""

import sys

from kerasnlm.cli.main import main

sys.exit(main())
