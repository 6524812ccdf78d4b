"""Pure-Python core: schedules, camera maths, prompts, seeds, the Job, settings files.

Nothing here imports ``bpy``, ``torch`` or ``cv2``; only the standard library and numpy.
"""
