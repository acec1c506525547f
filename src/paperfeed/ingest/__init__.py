"""Getting papers in: pure parsers for each source, a polite HTTP fetcher, and the import pipeline."""
