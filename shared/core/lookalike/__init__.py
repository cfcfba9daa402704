"""Look-alike data for forks: a profiled file (spec) and seeded generators drawn from it."""
