"""Server-rendered pages for people: sign in with an API key, watch jobs and their histories."""

from pathlib import Path

DIRECTORY = Path(__file__).parent  # templates/ and static/ live beside the code
