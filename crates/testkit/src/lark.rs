//! lark client helpers for integration tests (filled in with the dialect).
