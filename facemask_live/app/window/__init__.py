"""The window: a grid of 1..N camera tiles over the site engine (:func:`facemask_live.engine.build.build_site`).

``main`` builds and runs it; ``tiles``, ``panel``, ``events_list``, ``zone_editor``, ``sources_menu`` and
``review`` are its Qt parts; ``view`` and ``sources`` hold what it shows and writes as plain functions (no Qt),
``display`` says why no window can be opened here. Only ``qt`` imports PyQt5 directly (one clear error without it).
"""
