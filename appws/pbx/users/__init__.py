"""The PBX's user table (``PbxTableUsers``), replicated into Django models (docs/pbx.md)."""
