import sys

from graphnn.cli import main

sys.exit(main())
