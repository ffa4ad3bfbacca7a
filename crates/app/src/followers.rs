//! Limits the follower pages and the API share.

/// Filtered counts stop at this many matches (the list says "10,000+").
pub const MATCH_CAP: i64 = 10_000;
/// The largest follower CSV accepted, by the page and the API.
pub const MAX_UPLOAD: usize = 64 * 1024 * 1024;
