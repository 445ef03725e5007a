//! What a run tells its user (SPEC §2, §7): the tally of messages by type,
//! route and outcome ([`tally`]), what the sender counts as it goes
//! ([`counters`]), the `validate` report and the final summary of `send` in
//! text and JSON ([`output`]), the live display ([`live`]), and how counts,
//! sizes and event text read ([`words`]).

pub mod counters;
pub mod live;
pub mod output;
pub mod tally;
pub mod words;

pub use counters::Counters;
pub use output::RunFacts;
pub use tally::{Counted, Distinct, Rerun, RuleUse, Tally, Unplaced};
pub use words::{ProblemLines, counted, duration_text, printable, size};
