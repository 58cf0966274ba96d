"""The zone editor: View -> Show zones draws each camera's zones; on an enlarged tile (or the only one) Zones ->
Draw zone takes clicks as the corners of a polygon and Zones -> Finish zone names it (entrance or ignore). The
camera restarts with its new zone, the others go on; File -> Save config keeps it. A mixin of the main window."""

from __future__ import annotations

import dataclasses

from facemask_live.app.window.qt import QtWidgets
from facemask_live.core.config import CameraSettings
from facemask_live.core.zones import Zone
from facemask_live.engine.build import add_site_camera


class ZoneEditorMixin:
    """Needs the window's ``settings``, ``site``, ``tiles``, ``enlarged``, ``redraw`` and ``statusBar``."""

    drawing: list[tuple[float, float]] | None = None  # the corners of the zone being drawn (relative)
    show_zones = False

    def _zone_menus(self, view_menu, zones_menu) -> None:
        self.zones_action = view_menu.addAction("Show &zones")
        self.zones_action.setCheckable(True)
        self.zones_action.toggled.connect(self.set_show_zones)
        zones_menu.addAction("&Draw zone on the enlarged camera", self.start_zone)
        zones_menu.addAction("&Finish zone...", self.finish_zone_dialog)
        zones_menu.addAction("&Cancel drawing", self.cancel_zone)

    @property
    def zone_camera(self) -> str | None:
        """The camera zones are drawn on: the enlarged one, or the only one."""
        return self.enlarged or (next(iter(self.tiles)) if len(self.tiles) == 1 else None)

    def camera_settings(self, name: str) -> CameraSettings | None:
        return next((c for c in self.settings.cameras if c.name == name), None)

    def zones_shown(self, name: str) -> list[Zone]:
        cam = self.camera_settings(name)
        return list(cam.zones) if cam is not None and self.show_zones else []

    def set_show_zones(self, on: bool) -> None:
        self.show_zones = on
        for name in self.tiles:
            self.redraw(name)

    def start_zone(self) -> None:
        if self.zone_camera is None:
            self.statusBar().showMessage("click a camera to enlarge it, then draw its zone", 5000)
            return
        self.drawing = []
        self.statusBar().showMessage(f"drawing a zone on {self.zone_camera}: click its corners, then Zones -> Finish zone")

    def add_zone_point(self, name: str, point: tuple[float, float] | None) -> bool:
        """A click while drawing: a corner of the zone (True: the click was the editor's)."""
        if self.drawing is None or name != self.zone_camera:
            return False
        if point is not None:
            self.drawing.append(point)
            self.redraw(name)
            self.statusBar().showMessage(f"zone: {len(self.drawing)} points (Zones -> Finish zone when done)")
        return True

    def cancel_zone(self) -> None:
        name, self.drawing = self.zone_camera, None
        if name:
            self.redraw(name)
        self.statusBar().clearMessage()

    def finish_zone_dialog(self) -> None:
        camera = self.camera_settings(self.zone_camera) if self.zone_camera else None
        if self.drawing is None or camera is None:
            return
        name, ok = QtWidgets.QInputDialog.getText(self, "Zone", "Zone name:", text=f"zone{len(camera.zones) + 1}")
        if not ok:
            return
        kind, ok = QtWidgets.QInputDialog.getItem(self, "Zone", "Kind:", ["entrance", "ignore"], 0, False)
        if ok:
            self.finish_zone(name, kind)

    def finish_zone(self, zone_name: str, kind: str) -> Zone | None:
        """The drawn points as a zone of the camera; the camera restarts with it (the others go on)."""
        camera = self.camera_settings(self.zone_camera) if self.zone_camera else None
        if camera is None or self.drawing is None:
            return None
        try:
            zone = Zone(zone_name.strip(), kind, tuple(self.drawing))
            updated = dataclasses.replace(camera, zones=(*(z for z in camera.zones if z.name != zone.name), zone))
        except ValueError as exc:
            self.statusBar().showMessage(f"error: {exc}")
            return None
        self.settings = dataclasses.replace(self.settings, cameras=tuple(updated if c.name == camera.name else c
                                                                         for c in self.settings.cameras))
        if self.site is not None and camera.name in self.site.cameras:  # the zone filter is built with the camera
            self.site.remove_camera(camera.name)
            add_site_camera(self.site, self.settings, updated)
        self.drawing = None
        self.zones_action.setChecked(True)
        self.redraw(camera.name)
        self.statusBar().showMessage(f"zone {zone.name} ({zone.kind}) added to {camera.name}; File -> Save config keeps it", 8000)
        return zone
