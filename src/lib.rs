//! segment-planhat: deliver Segment analytics events to Planhat.
//!
//! The modules follow the data: [`cli`] → [`config`] → [`input`] →
//! [`segment`] messages → [`mapping`] → [`planhat`] requests → [`sender`] →
//! [`report`], with [`allocator`] for how memory is asked for, [`failed`]
//! for the failed file, [`checkpoint`] for resumable runs ([`fingerprint`]
//! for the bytes its lines were) and [`memory`] for what a run remembers
//! for the next, [`frames`] for files written a value at a time, [`error`]
//! for exit codes, [`signals`] for what stops a run and
//! [`stdout`] for where its data goes. [`run`] is the loop that
//! drives them. This library exists for the binary and its tests; its API
//! is not stable.

pub mod allocator;
pub mod checkpoint;
pub mod cli;
pub mod completions;
pub mod config;
pub mod error;
pub mod failed;
pub mod fingerprint;
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
