"""Ranking papers for readers: trending (community votes with time decay); per-reader models come later."""
