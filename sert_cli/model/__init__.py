"""The bottom of the science: the equations of docs/model.md (`formulas`) and the profile
value types (`profile`). Imports nothing of sert_cli but the vocabulary and units, so that
pk, pgx, profiles and everything above can read them without a cycle."""
