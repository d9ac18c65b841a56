"""``python -m newsworld [PORT]``: serve the news world until interrupted."""

import sys
import time

from newsworld.server import NewsWorld

world = NewsWorld(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0).start()
print(f"news world at {world.base_url}/ (Ctrl-C to stop)", flush=True)
try:
    while True:
        time.sleep(3600)
except KeyboardInterrupt:
    world.stop()
