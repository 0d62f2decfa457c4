"""`python -m service.cli`, the same as `jobtrail`."""

import sys

from service.cli import main

sys.exit(main())
