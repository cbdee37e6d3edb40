"""``python -m medtranslate`` is the ``medtranslate`` command."""

import sys

from medtranslate.cli.main import main

sys.exit(main())
