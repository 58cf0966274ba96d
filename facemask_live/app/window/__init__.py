"""The window: a grid of 1..N camera tiles over the site engine (:func:`facemask_live.engine.build.build_site`),
for a plain ``--source`` and for a config of many cameras alike.

``run`` builds and runs it (``run_window``, called by the cli); ``main`` is the main window; ``bridge``, ``tiles``,
``panel``, ``events_list``, ``sources_menu``, ``zone_editor`` and ``review`` are its Qt parts; ``view`` and
``sources`` hold what it shows and writes as plain functions (no Qt), ``feed`` the pictures between the camera
threads and the window (no Qt); ``display`` says why no window can be opened
here. Only ``qt`` imports PyQt5 (one clear error without it).
"""
