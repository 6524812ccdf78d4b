"""Run by ``tests/blender/test_worker_client.py`` in a fresh interpreter (``run_test_script``)."""

import json
import sys

import bpy

bpy.ops.extensions.package_install_files(
    filepath=sys.argv[1], repo="user_default", enable_on_install=True
)
from bl_ext.user_default.deforum_blender.blender import worker_client as wc  # type: ignore[import-not-found]  # noqa: E402

chosen = wc.find_worker_python()
client = wc.shared_worker()
job = json.loads(sys.argv[2])
client.render(job, sys.argv[3], preview=True)
events: list[dict[str, object]] = []
ended = client.wait(events.append, timeout=300)
again = wc.shared_worker() is client
wc.unregister()
# A worker that ignores everything: Blender's exit (atexit) must still end it.
deaf = wc.WorkerClient([sys.executable, "-c", "import time; time.sleep(300)"]).start()
print(
    json.dumps(
        {
            "source": chosen.source,
            "package": client.ready and client.ready["package"],
            "ended": ended["type"],
            "message": ended.get("message"),
            "frames": [e["frame"] for e in events if e["type"] == "frame"],
            "reused": again,
            "stopped_on_unregister": not client.alive,
            "venv": str(wc.environment.default_venv_dir()),
            "deaf_pid": deaf.process.pid,
        }
    )
)
