import sys

from zipfit.cli import main

sys.exit(main())
