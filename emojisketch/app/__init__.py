"""The Qt desktop app: the only part of emojisketch that imports PySide6.

Entry point: :func:`emojisketch.app.main.run` (``emojisketch app``). Widgets live in their own
modules (canvas, suggestions, picker, my_emoji, teach, settings, export_dialog); the
:class:`~emojisketch.app.session.Session` holds the store, the model and the one background
lane (:mod:`~emojisketch.app.worker`) that does all model work off the UI thread.
"""
