"""Home Assistant MQTT discovery: one device per camera with a violation binary sensor, count sensors,
a status sensor, a door sensor (allow / deny / idle) and an image entity for the latest violation snapshot.

Config topics are ``<discovery_prefix>/<component>/facemask_<camera>/<object>/config`` (retained). The
publisher sends them after every connect and again when Home Assistant announces ``online`` on
``<discovery_prefix>/status``. Keys follow Home Assistant's MQTT discovery schema (binary_sensor, sensor,
image; full names, no abbreviations) and are checked against it in tests/outputs/test_mqtt.py and by a real Home Assistant in tools/ha_check.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from facemask_live.core.config import MqttSettings


COUNTS = (
    ("in_view", "People in view", "mdi:account-group"),
    ("masked", "Masked", "mdi:face-mask"),
    ("unmasked", "Unmasked", "mdi:face-mask-outline"),
    ("not_judged", "Not judged yet", "mdi:account-question"),
)


def discovery_messages(settings: MqttSettings, camera: str, version: str, door: bool = False) -> list[tuple[str, dict]]:
    """(config topic, payload) for every entity of ``camera``."""
    prefix = settings.discovery_prefix
    base = f"{settings.topic_prefix}/{camera}"
    node = f"facemask_{camera}"
    common = {
        "availability_topic": f"{base}/available",
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": {
            "identifiers": [node],
            "name": f"Face mask monitor {camera}",
            "manufacturer": "facemask-live",
            "model": "face mask monitor",
            "sw_version": version,
        },
        "origin": {"name": "facemask-live", "sw_version": version},
    }

    def entity(component: str, obj: str, **config) -> tuple[str, dict]:
        return f"{prefix}/{component}/{node}/{obj}/config", {"unique_id": f"{node}_{obj}", **common, **config}

    messages = [
        entity(
            "binary_sensor", "violation",
            name="Violation",
            state_topic=f"{base}/events",
            value_template="ON",  # every event switches it on; off_delay switches it off again
            payload_on="ON",
            payload_off="OFF",
            off_delay=settings.violation_hold_s,
            device_class="problem",
            json_attributes_topic=f"{base}/events",
            json_attributes_template=(
                "{{ {'label': value_json.label, 'confidence': value_json.confidence, 'track_id': value_json.track_id,"
                " 'time': value_json.iso_time, 'snapshot': value_json.snapshot} | tojson }}"
            ),
            qos=1,
        ),
        entity("sensor", "status", name="Source status", state_topic=f"{base}/status", icon="mdi:cctv",
               entity_category="diagnostic"),
    ]
    for key, name, icon in COUNTS:
        messages.append(entity(
            "sensor", key,
            name=name,
            state_topic=f"{base}/people",
            value_template=f"{{{{ value_json.{key} }}}}",
            unit_of_measurement="people",
            state_class="measurement",
            icon=icon,
        ))
    if door:  # the door signal (outputs/door.py): its state, with the reason and the time as attributes
        messages.append(entity(
            "sensor", "door",
            name="Door",
            state_topic=f"{base}/door",
            value_template="{{ value_json.state }}",
            device_class="enum",
            options=["allow", "deny", "idle"],
            json_attributes_topic=f"{base}/door",
            json_attributes_template="{{ {'reason': value_json.reason, 'time': value_json.iso_time, 'label': value_json.label} | tojson }}",
            icon="mdi:door",
        ))
    if settings.snapshot != "path":
        messages.append(entity("image", "snapshot", name="Latest violation", image_topic=f"{base}/snapshot",
                               content_type="image/jpeg"))
    return messages
