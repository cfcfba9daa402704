"""The folders `pilotpack new` copies into usecases/<name>/: one per task family.

Each is real Python, linted and imported like the rest of the pack. What differs between
forks is data, written beside the code: wiring.json (task, columns), profile.json (the file's
profile, for look-alike rows), schema.py (the inferred pandera schema), config.yaml and the
README. The example data files here come from a small file of each family's shape.
"""
