"""Stage 5, where results go: drawing, sinks (JSONL, video, snapshots), MQTT with its outbox and Home Assistant discovery, privacy, retention."""
