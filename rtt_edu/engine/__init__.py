"""One optimizer step as a turn: the game master, its history, the hook on the optimizer, the guard."""
