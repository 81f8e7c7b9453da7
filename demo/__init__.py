"""The demo network behind `manage.py seed_demo`, `bin/demo` and bench/seed.py: entry point `demo.seed.demo_seed`."""
