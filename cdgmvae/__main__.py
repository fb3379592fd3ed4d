import sys

from cdgmvae.cli import main

sys.exit(main())
