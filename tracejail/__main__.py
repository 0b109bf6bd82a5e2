import sys

from tracejail.cli import main

sys.exit(main())
