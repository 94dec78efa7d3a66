import sys

from binderfed_sdk.cli._main import main

sys.exit(main())
