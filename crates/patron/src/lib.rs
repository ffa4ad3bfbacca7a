//! The `patron` binary's library half: configuration, start-up and the CLI commands, kept
//! here so the integration tests start exactly the server the binary runs.

pub mod bench;
pub mod bench_coupons;
pub mod cli;
pub mod config;
pub mod serve;
