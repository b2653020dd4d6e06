"""Read and extract: find input files, decode lines into event frames, hold them until sessions are whole."""
