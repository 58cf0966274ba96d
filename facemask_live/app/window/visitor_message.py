"""What the visitor display says: the message, its colour and its sound for a frame's door view. No Qt here.

The display speaks to the person nearest the camera (inside the entrance zone when the camera has one), as the
event monitor judges them (:class:`~facemask_live.core.results.DoorView`): their counted label picks the message
(``mask``: "Thank you", ``no_mask``: "Please put on your mask", ``incorrect_mask``: "Please pull your mask over
your nose"); nobody there, a face not judged yet, a label without a message, or off hours: no message.

Messages and colours come from a language file (``facemask_live/app/messages/<language>.yaml``, or a .yaml path),
over English for what it leaves out, and then from ``visitor.messages`` / ``visitor.colors`` in the settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from facemask_live.core.config import ConfigError, VisitorSettings
from facemask_live.core.results import DoorView

_COLOR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")


@dataclass(frozen=True)
class VisitorMessage:
    label: str
    text: str
    color: str  # "#RRGGBB"
    sound: str | None = None  # a WAV file to play when the message appears


def _read(language: str) -> dict:
    import yaml

    if language.endswith((".yaml", ".yml")):
        path = Path(language).expanduser()
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"visitor.language: cannot read messages file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    else:
        where = f"messages/{language}.yaml"
        text = resources.files("facemask_live.app").joinpath("messages", f"{language}.yaml").read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"visitor.language: {where} is not valid YAML: {' '.join(str(exc).split())}") from None
    ok = isinstance(data, dict) and set(data) <= {"messages", "colors"} and all(
        isinstance(data.get(k, {}), dict) for k in ("messages", "colors"))
    if not ok:
        raise ConfigError(f"visitor.language: {where} must hold 'messages' and 'colors', each a mapping label: text")
    bad = [c for c in data.get("colors", {}).values() if not _COLOR_RE.match(str(c))]
    if bad:
        raise ConfigError(f"visitor.language: {where}: {bad[0]!r} is not a colour #RRGGBB")
    return data


class MessageTable:
    """Label -> :class:`VisitorMessage` from the settings (raises ConfigError for a bad messages file)."""

    def __init__(self, settings: VisitorSettings):
        english = _read("en")
        own = _read(settings.language) if settings.language != "en" else english
        self.messages = {**english["messages"], **own.get("messages", {}), **settings.messages}
        self.colors = {**english["colors"], **own.get("colors", {}), **settings.colors}
        self.sounds = dict(settings.sounds)

    def get(self, label: str) -> VisitorMessage | None:
        text = self.messages.get(label)
        if not text:
            return None
        return VisitorMessage(label, str(text), self.colors.get(label, "#424242"), self.sounds.get(label))


def visitor_message(view: DoorView | None, table: MessageTable) -> VisitorMessage | None:
    """The message for the person a frame's door view names; None: say nothing."""
    if view is None or view.off_hours or view.label is None:
        return None
    return table.get(view.label)
