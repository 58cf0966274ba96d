"""Stage 4, what people do: one violation event per person, people counts over time."""
