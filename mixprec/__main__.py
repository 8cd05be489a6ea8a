from mixprec.cli import main
import sys

sys.exit(main())
