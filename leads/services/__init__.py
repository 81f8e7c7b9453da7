"""Writes for leads and deals, split by sub-domain: registration.py (deal registration and protection),
routing.py (vendor leads to partners), pipeline.py (stages, activities, co-sell)."""
