"""How long a graceful stop of the daemon may take.

Its own module: ``syncd run --help`` shows the default, and the command
line must not import the daemon's HTTP stack to build its parser.
"""

# SIGTERM/SIGINT: running cycles end at their next checkpoint; after this
# many seconds, what still runs is cancelled (`syncd run --stop-timeout`).
STOP_TIMEOUT = 30.0
