//! The item each route is built from a message the checks let through
//! (SPEC §5.2, §5.4, §5.6, §6): an activity's action, date and info, a
//! group call's company upsert or receiver body, and the minimal company
//! upsert company-first announces. End-user and company fields are in
//! [`profile`](super::profile).

use crate::planhat::items::{Activity, Company, Forward, Info, Item, Who};
use crate::segment::json::Value;
use crate::segment::lookup::{id_text, text};
use crate::segment::time::EventTime;
use crate::segment::{Kind, Message};

use super::companies::{Associations, FirstGroups};
use super::rules::EventRule;
use super::{Options, Outcome, Reject, Skip, profile};

/// Company first (SPEC §6): with an API token, a company that an item names
/// before the company's group call is reached is upserted first, minimally
/// (`externalId`, its first group call's `name`, `source`), so that Planhat
/// knows it. Once per company, by the company's own shard.
pub(super) fn announce<'m>(
    first_groups: &'m mut FirstGroups,
    options: &'m Options,
    company: Option<&str>,
) -> Option<Company<'m>> {
    let company = company?;
    let name = first_groups.announce(company)?;
    let owned = options.shard.is_none_or(|s| s.owns(company.as_bytes()));
    owned.then(|| Company {
        external_id: company.to_owned(),
        name,
        fields: Vec::new(),
        source: options.source_label.as_deref(),
        custom: serde_json::Map::new(),
    })
}

/// A group call teaches its association, when the run learns as it goes,
/// and with an API token upserts the company (SPEC §5.4).
pub(super) fn group<'m>(
    learned: Option<&mut Associations>,
    options: &'m Options,
    hits: &mut [u64],
    message: &'m Message,
    time: Option<EventTime>,
) -> Outcome<'m> {
    let Some(group_id) = id_text(message.get("groupId")) else {
        return Outcome::Reject(Reject::NoGroupId, "group has no \"groupId\"".into());
    };
    if let Some(associations) = learned
        && let Some(user) = id_text(message.get("userId"))
    {
        associations.learn(&user, &group_id, time);
    }
    if options.receiver {
        return Outcome::Send(Item::Receiver(Forward {
            message,
            kind: Kind::Group,
            user_id: id_text(message.get("userId")),
            company: Some(group_id),
            event: None,
        }));
    }
    if !options.profiles {
        return Outcome::Skip(Skip::GroupAssociation);
    }
    let source = options.source_label.as_deref();
    let item = profile::company(
        group_id,
        message.traits(),
        source,
        &options.rules.group,
        hits,
    );
    Outcome::Send(Item::Company(item))
}

/// The activity item for a track, page or screen (with its action, which a
/// mapping-file rule may replace and weigh), or for an identify sent without
/// an API token (identity fields only).
pub(super) fn activity<'m>(
    kind: Kind,
    message: &'m Message,
    who: Who,
    date: Option<EventTime>,
    source: Option<&'m str>,
    action: Option<String>,
    rule: Option<&'m EventRule>,
) -> Activity<'m> {
    let info = match kind {
        Kind::Track => Some(Info {
            properties: message.object("properties"),
            overrides: Vec::new(),
            fallbacks: Vec::new(),
        }),
        Kind::Page | Kind::Screen => Some(view_info(message)),
        _ => None,
    };
    let renamed = rule.and_then(|rule| rule.action.clone());
    Activity {
        who,
        action: renamed.or(action),
        date,
        info,
        source,
        weight: rule.and_then(|rule| rule.weight.as_ref()),
    }
}

/// The name the mapping file's `[events]` and `[metrics]` keys match: a
/// track's event, a view's action (SPEC §11).
pub(crate) fn rule_name(kind: Kind, message: &Message) -> Option<String> {
    match kind {
        Kind::Track => text(message.get("event")).map(str::to_owned),
        Kind::Page | Kind::Screen => Some(view_action(kind, message)),
        _ => None,
    }
}

/// `Viewed <fullName> Page` (fullName = category + " " + name when both
/// exist, else name) or `Loaded a Page`; `Viewed <name> Screen` or
/// `Loaded a Screen` (SPEC §5.2, as facade names them).
fn view_action(kind: Kind, message: &Message) -> String {
    let name = text(message.get("name"));
    let category = text(message.get("category"));
    match (kind, name, category) {
        (Kind::Page, Some(name), Some(category)) => format!("Viewed {category} {name} Page"),
        (Kind::Page, Some(name), None) => format!("Viewed {name} Page"),
        (Kind::Page, None, _) => "Loaded a Page".into(),
        (_, Some(name), _) => format!("Viewed {name} Screen"),
        (_, None, _) => "Loaded a Screen".into(),
    }
}

/// A value that is given: neither null nor `""`.
fn given<'o, 'a>(value: Option<&'o Value<'a>>) -> Option<&'o Value<'a>> {
    value.filter(|v| crate::segment::lookup::is_given(v))
}

/// A view's info: its properties, the message's `name` and `category` over
/// them, and `context.page`'s url, path, title, referrer and search where
/// the properties lack them.
fn view_info<'m>(message: &'m Message<'m>) -> Info<'m> {
    let overrides = ["name", "category"]
        .into_iter()
        .filter_map(|key| Some((key, given(message.get(key))?)))
        .collect();
    let page = message.context("page").and_then(Value::as_object);
    let fallbacks = ["url", "path", "title", "referrer", "search"]
        .into_iter()
        .filter_map(|key| Some((key, given(page?.get(key))?)))
        .collect();
    Info {
        properties: message.object("properties"),
        overrides,
        fallbacks,
    }
}
