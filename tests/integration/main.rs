//! Patron's one integration-test binary (see tests/DO_NOT_ADD_TEST_BINARIES).
//!
//! Each test starts the real application on a loopback port against a fresh database:
//! a SQLite file in a temp dir by default, or a fresh PostgreSQL schema when
//! `PATRON_TEST_DATABASE_URL=postgres://…` is set. CI runs the whole binary once per backend.

mod api;
mod auth;
mod broadcast_channels;
mod broadcast_race;
mod broadcasts;
mod cli;
mod contract;
mod coupons;
mod crm;
mod import;
mod isolation;
mod jobs;
mod journal;
mod loyalty;
mod loyalty_web;
mod mail;
mod outbound;
mod payments;
mod reconcile;
mod schema;
mod security;
mod stats;
mod support;
mod webhook;
