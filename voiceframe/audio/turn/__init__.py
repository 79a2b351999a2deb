"""End-of-turn analysis: the Smart Turn v3 audio model and a transcript-based signal."""
