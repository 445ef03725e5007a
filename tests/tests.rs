//! The integration tests, in one binary to save link time: the CLI run as a
//! user runs it, golden dry-run outputs, and delivery against a mock Planhat.

mod support;

mod cli;
mod companies;
mod display;
mod docs;
mod golden;
mod hostile;
mod http;
mod incremental;
mod layout;
mod metrics;
mod object_stores;
mod operators;
mod profiles;
mod resume;
mod shard;
mod stitch;
mod unattended;
mod ux;
