//! Store-backed tests of the outbound module: import, runner, restart, export.
