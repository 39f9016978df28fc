"""python -m vae train | eval | plot"""

import sys

from .cli import main

sys.exit(main())
