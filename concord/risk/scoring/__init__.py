"""The scoring step the declaration pipeline calls: the assessment, lanes within a budget, the compiled catalogue."""
