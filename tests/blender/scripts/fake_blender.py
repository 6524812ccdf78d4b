"""``blender`` for the farm tests: the ``bpy`` module stands in for the Blender binary.

Takes the command line a Flamenco worker runs, ``-b -y FILE.blend -P SCRIPT -- ARGS``,
and runs ``python SCRIPT -- --blend FILE.blend ARGS`` in its place (the headless script's
documented form under the ``bpy`` module).
"""

import os
import sys

args = sys.argv[1:]
before, rest = (
    (args[: args.index("--")], args[args.index("--") + 1 :]) if "--" in args else (args, [])
)
options = [a for a in before if a not in ("-b", "--background", "-y", "--enable-autoexec")]
script = options[options.index("-P") + 1]
blend = next(a for a in options if a.endswith(".blend"))
command = [sys.executable, script, "--", "--blend", blend, *rest]
os.execv(sys.executable, command)
