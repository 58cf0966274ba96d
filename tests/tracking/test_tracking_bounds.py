"""An all-day shift in fast-forward: the tracker's tracks and the re-identification gallery stay bounded."""

from __future__ import annotations

import numpy as np
from helpers import crowd

from facemask_live.core.config import ReidSettings
from facemask_live.tracking.reid import Appearance, Reidentifier
from facemask_live.tracking.track import Tracker


def test_tracks_and_gallery_stay_bounded_over_a_shift_of_people():
    reid = Reidentifier(ReidSettings(max_age=10.0))
    tracker = Tracker(max_missing=15, reid=reid)
    most_tracks = most_lost = 0
    for frame, faces in crowd(people=300, every=10, stay=20):  # 3,000 frames: 2 minutes at 25 fps, 300 people
        tracker.update(faces, frame)
        most_tracks, most_lost = max(most_tracks, len(tracker.tracks)), max(most_lost, len(reid.gallery))
    assert tracker.people >= 100  # people came and went (look-alikes re-identified: colours repeat)
    assert most_tracks <= 6  # at most 2 people in view, plus tracks missing for up to max_missing frames
    # lost people are kept max_age = 10 s = 250 frames: about 25 people, never the whole shift
    assert 5 <= most_lost <= 30, most_lost
    assert all(frame.timestamp - g.time <= 10.0 for g in reid.gallery)


def test_gallery_expires_while_nobody_new_comes_and_is_capped_for_a_crowd():
    reid = Reidentifier(ReidSettings(max_age=10.0))
    look = Appearance()
    look.add(np.full(100, 0.01, np.float32))
    for person in range(1, 2001):  # 2,000 people lost in the same second: a crowd leaving
        reid.lose(person, (0, 0, 40, 50), 100.0, look)
    assert len(reid.gallery) == Reidentifier.MAX_GALLERY
    assert {g.person for g in reid.gallery} == set(range(2001 - Reidentifier.MAX_GALLERY, 2001))  # the newest kept
    reid.lose(9999, (0, 0, 40, 50), 111.0, look)  # 11 s later: everyone else is past max_age
    assert [g.person for g in reid.gallery] == [9999]
