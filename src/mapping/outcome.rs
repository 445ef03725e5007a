//! What becomes of a message (SPEC §5.5, §7): sent as an item, skipped by
//! policy or rejected, each reason with the name reports and the failed
//! file give it.

use crate::planhat::items::{Company, Item};
use crate::segment::time::EventTime;

/// Why a message is not sent, by policy: these do not affect the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skip {
    Duplicate,
    UnsupportedType,
    DisabledByIntegrations,
    Filtered,
    /// Neither externalId nor email, only an anonymousId (SPEC §5.1).
    Anonymous,
    GroupAssociation,
    /// A batch envelope with no messages (SPEC §3).
    EmptyBatch,
}

/// Why a message cannot be sent: these make the exit code 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reject {
    /// The line is not JSON.
    InvalidJson,
    /// The line is JSON but not an object.
    NotAnObject,
    /// The input could not be read past this point (a corrupt gzip stream).
    Unreadable,
    /// The line is longer than `--max-line-bytes` (SPEC §3).
    LineTooLong,
    UnknownType,
    NoIdentity,
    NoGroupId,
    BadTimestamp,
    NoEvent,
}

impl Skip {
    /// The reason's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Skip::Duplicate => "duplicate",
            Skip::UnsupportedType => "unsupported_type",
            Skip::DisabledByIntegrations => "disabled_by_integrations",
            Skip::Filtered => "filtered",
            Skip::Anonymous => "anonymous",
            Skip::GroupAssociation => "group_association",
            Skip::EmptyBatch => "empty_batch",
        }
    }

    /// Whether reports list examples of it: not for duplicates and filters,
    /// which are expected in bulk (SPEC §5.5).
    pub fn listed(self) -> bool {
        !matches!(self, Skip::Duplicate | Skip::Filtered)
    }
}

impl Reject {
    /// The reason's name in reports and in the failed file.
    pub fn name(self) -> &'static str {
        match self {
            Reject::InvalidJson => "invalid_json",
            Reject::NotAnObject => "not_an_object",
            Reject::Unreadable => "unreadable",
            Reject::LineTooLong => "line_too_long",
            Reject::UnknownType => "unknown_type",
            Reject::NoIdentity => "no_identity",
            Reject::NoGroupId => "no_group_id",
            Reject::BadTimestamp => "bad_timestamp",
            Reject::NoEvent => "no_event",
        }
    }
}

/// What became of one message.
// Built and consumed once per message on the stack; boxing the item would
// cost an allocation per message for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<'m> {
    Send(Item<'m>),
    Skip(Skip),
    Reject(Reject, String),
    /// Another shard's message (`--shard`): not this run's to count or send.
    OtherShard,
}

/// A message's outcome with the facts reports count.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped<'m> {
    pub outcome: Outcome<'m>,
    /// The event time, when it has a usable one.
    pub time: Option<EventTime>,
    /// A minimal upsert of a company the outcome's item names before the
    /// company's group call is reached (SPEC §6), to be sent before it. It
    /// comes whoever's shard the message is in, from the company's shard,
    /// so one shard sends each company's upserts.
    pub announce: Option<Company<'m>>,
}
