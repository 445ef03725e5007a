//! segment-planhat: deliver Segment analytics events to Planhat.
//!
//! The modules follow the data: [`cli`] → [`config`] → [`input`] →
//! [`segment`] messages → [`mapping`] → [`planhat`] requests → [`sender`] →
//! [`report`], with [`failed`] for the failed file, [`checkpoint`] for
//! resumable runs ([`fingerprint`] for the bytes its lines were) and
//! [`memory`] for what a run remembers for the next. Below them all, each
//! owning one rule: [`base_url`] (which URLs may carry a token),
//! [`backoff`] (how long a retry waits), [`fnv`] (the hash ids are kept
//! by), [`frames`] (files written a value at a time), [`error`] (exit
//! codes), [`signals`] (what stops a run), [`stdout`] (where data goes) and
//! [`allocator`] (how memory is asked for). [`run`] is the loop that
//! drives them. Imports go one way: no module imports one that imports it
//! (`tests/layout.rs`). This library exists for the binary and its tests;
//! its API is not stable.

pub mod allocator;
pub mod backoff;
pub mod base_url;
pub mod checkpoint;
pub mod cli;
pub mod completions;
pub mod config;
pub mod error;
pub mod failed;
pub mod fingerprint;
pub mod fnv;
pub mod frames;
pub mod input;
pub mod mapping;
pub mod memory;
pub mod planhat;
pub mod report;
pub mod run;
pub mod segment;
pub mod sender;
pub mod signals;
pub mod stdout;

pub use run::{Io, run};
