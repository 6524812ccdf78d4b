"""Run by ``tests/blender/test_extension.py`` in a fresh interpreter (``run_test_script``)."""

import json
import sys

import bpy

module = "bl_ext.user_default.deforum_blender"
result = bpy.ops.extensions.package_install_files(
    filepath=sys.argv[1], repo="user_default", enable_on_install=True
)
enabled = module in bpy.context.preferences.addons
prefs_ok = enabled and hasattr(bpy.context.preferences.addons[module].preferences, "worker_python")
prefs_class = type(bpy.context.preferences.addons[module].preferences) if enabled else None
registered = bool(prefs_class and prefs_class.is_registered)
bpy.ops.preferences.addon_disable(module=module)
print(
    json.dumps(
        {
            "result": sorted(result),
            "enabled": enabled,
            "prefs_ok": prefs_ok,
            "registered": registered,
            "still_enabled": module in bpy.context.preferences.addons,
            "still_registered": bool(prefs_class and prefs_class.is_registered),
            "heavy": [m for m in ("torch", "cv2", "diffusers") if m in sys.modules],
            "user_extensions": bpy.utils.user_resource("EXTENSIONS"),
        }
    )
)
