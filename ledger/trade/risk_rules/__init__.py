"""Published customs risk rule sets, one immutable JSON file per version (a package so they ship in the wheel)."""
