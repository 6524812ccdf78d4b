"""The render engine (runs in the worker process): models, depth, warp, the loop.

Heavy libraries (torch, diffusers, transformers, cv2) are imported inside the
modules that need them, never at package import. Never imports ``bpy``.
"""
