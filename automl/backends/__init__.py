"""Search backends: they sample candidates and store trials; the trainer never knows which one ran."""
