"""Joint inspections: one slot at an inspection facility for every agency that must examine the goods."""
