"""The chat and the API: `python app.py [flags]` is `assistant serve [flags]` (assistant/server/)."""

import sys

from assistant.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
