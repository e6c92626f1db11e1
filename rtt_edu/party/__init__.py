"""Who joins a turn: character classes, monsters and the experience system."""
