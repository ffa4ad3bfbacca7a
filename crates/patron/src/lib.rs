//! The `patron` binary's library half: configuration, start-up and the CLI commands, kept
//! here so the integration tests start exactly the server the binary runs.

/// The benchmark lab (`patron bench …`): only in builds with the `bench` feature, so the
/// production binary carries neither its code nor its baseline route.
#[cfg(feature = "bench")]
pub mod bench;
pub mod cli;
pub mod config;
mod demo;
pub mod serve;
