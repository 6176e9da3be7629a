//! Workspace-level end-to-end tests (in `tests/`): flows that cross crates and binaries.
