"""What a student sees: plots and the notebook panels."""
