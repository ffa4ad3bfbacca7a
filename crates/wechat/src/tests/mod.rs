//! Cross-module tests: the fact sheet's vectors (§1, §2.5) and one sample of every
//! message and event (§3).

mod samples;
mod vectors;
