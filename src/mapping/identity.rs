//! Who an event is about (SPEC §5.1): the user's externalId, email and name,
//! and the company the message names itself (the company of its user at its
//! time is [`super::companies`]'). With `--stitch`, an anonymous message is
//! about the user its anonymousId is linked to (§5.7).
//!
//! Pure: no I/O.

use crate::segment::json::Object;

use crate::planhat::items::Who;
use crate::segment::lookup::{find, find_in, id_text, looks_like_email, text};
use crate::segment::{Kind, Message};

use super::stitch::Links;

/// The key a user's associations are known by: externalId, else email.
pub fn user_key(who: &Who) -> Option<&str> {
    who.external_id.as_deref().or(who.email.as_deref())
}

/// The identity that decides a message's shard (SPEC §10): externalId,
/// else email, else anonymousId, else messageId. A group call belongs to
/// the shard of its `groupId`, so that each company's upserts come from one
/// shard, in input order, and its state in Planhat does not depend on which
/// shard ran last (its association is learned by every shard). With `links`
/// (`--stitch`) a linked anonymousId gives way to its user, so a person's
/// anonymous and known events share a shard too.
pub fn shard_key(message: &Message, links: Option<&Links>) -> Option<String> {
    let user = match message.kind {
        Ok(Kind::Group) => {
            id_text(message.get("groupId")).or_else(|| id_text(message.get("userId")))
        }
        _ => external_id(message).or_else(|| email(message, message.traits())),
    };
    user.or_else(|| {
        let anonymous = anonymous_id(message)?;
        let linked = links.and_then(|links| links.user_of(&anonymous));
        Some(linked.map_or(anonymous, str::to_owned))
    })
    .or_else(|| message.message_id())
}

/// `anonymousId` as text, when it has one.
pub fn anonymous_id(message: &Message) -> Option<String> {
    id_text(message.get("anonymousId"))
}

/// `userId`, else the `userId`/`user_id` trait, else the `id` trait.
fn external_id(message: &Message) -> Option<String> {
    let traits = message.traits();
    id_text(message.get("userId"))
        .or_else(|| id_text(traits.and_then(|t| find(t, "userid"))))
        .or_else(|| id_text(traits.and_then(|t| find(t, "id"))))
}

/// Resolves who a track, page, screen or identify message is about, but for
/// the company. With `links` (`--stitch`), a message with neither
/// externalId nor email whose anonymousId is linked is about the linked
/// user, as if that were its `userId`: the externalId, and the email when it
/// looks like one.
pub fn person(message: &Message, links: Option<&Links>) -> Who {
    let traits = message.traits();
    let mut who = Who {
        email: email(message, traits),
        name: name(traits),
        external_id: external_id(message),
        company: None,
    };
    if who.external_id.is_none()
        && who.email.is_none()
        && let Some(links) = links
        && let Some(user) = anonymous_id(message).and_then(|id| links.user_of(&id))
    {
        who.email = looks_like_email(user).then(|| user.to_owned());
        who.external_id = Some(user.to_owned());
    }
    who
}

/// The company a message names itself: `context.groupId`, else the traits'
/// (SPEC §5.1). A `context.groupId` serves its own message only.
pub fn own_company(message: &Message) -> Option<String> {
    id_text(message.context("groupId")).or_else(|| traits_company(message.traits()))
}

/// The company named in the traits themselves: `company.id`, else
/// `companyId`/`company_id`. This is what an identify teaches (§5.3).
pub fn traits_company(traits: Option<&Object<'_>>) -> Option<String> {
    let traits = traits?;
    id_text(find_in(find(traits, "company"), "id")).or_else(|| id_text(find(traits, "companyid")))
}

/// traits `email`, else `context.traits.email`, else `properties.email`
/// (track, page, screen), else `userId` when it looks like an email.
fn email(message: &Message, traits: Option<&Object<'_>>) -> Option<String> {
    let properties = match message.kind {
        Ok(Kind::Track | Kind::Page | Kind::Screen) => message.object("properties"),
        _ => None,
    };
    email_in(traits)
        .or_else(|| email_in(message.context_traits()))
        .or_else(|| email_in(properties))
        .map(str::to_owned)
        .or_else(|| id_text(message.get("userId")).filter(|id| looks_like_email(id)))
}

fn email_in<'o>(object: Option<&'o Object<'_>>) -> Option<&'o str> {
    text(object.and_then(|o| find(o, "email")))
}

/// traits `name`, else `firstName` + " " + `lastName` when both exist.
fn name(traits: Option<&Object<'_>>) -> Option<String> {
    let traits = traits?;
    let trait_text = |key| text(find(traits, key));
    match (
        trait_text("name"),
        trait_text("firstname"),
        trait_text("lastname"),
    ) {
        (Some(name), _, _) => Some(name.to_owned()),
        (None, Some(first), Some(last)) => Some(format!("{first} {last}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::parse_line;

    fn message(line: &str) -> Message<'_> {
        parse_line(line.as_bytes())
            .next()
            .expect("a line has a message")
            .expect("test line parses")
    }

    fn who(line: &str) -> Who {
        person(&message(line), None)
    }

    #[test]
    fn external_id_prefers_user_id_then_trait_user_id_then_trait_id() {
        let w = who(r#"{"type":"identify","userId":"u1","traits":{"user_id":"u2","id":"u3"}}"#);
        assert_eq!(w.external_id.as_deref(), Some("u1"));
        let w = who(r#"{"type":"identify","userId":null,"traits":{"id":"u3","User-Id":"u2"}}"#);
        assert_eq!(w.external_id.as_deref(), Some("u2"));
        let w = who(r#"{"type":"identify","traits":{"id":42}}"#);
        assert_eq!(w.external_id.as_deref(), Some("42"));
        let w = who(r#"{"type":"track","userId":12345.0,"traits":{"id":"ignored"}}"#);
        assert_eq!(w.external_id.as_deref(), Some("12345"));
    }

    #[test]
    fn track_reads_traits_from_context_only() {
        let w = who(
            r#"{"type":"track","traits":{"userId":"no"},"context":{"traits":{"userId":"yes"}}}"#,
        );
        assert_eq!(w.external_id.as_deref(), Some("yes"));
    }

    #[test]
    fn email_precedence() {
        let line = r#"{"type":"identify","userId":"x@y.io","traits":{"email":"t@y.io"},"context":{"traits":{"email":"c@y.io"}}}"#;
        assert_eq!(who(line).email.as_deref(), Some("t@y.io"));
        let line = r#"{"type":"identify","userId":"x@y.io","traits":{"email":""},"context":{"traits":{"email":"c@y.io"}}}"#;
        assert_eq!(who(line).email.as_deref(), Some("c@y.io"));
        let line = r#"{"type":"track","userId":"x@y.io","properties":{"email":"p@y.io"}}"#;
        assert_eq!(who(line).email.as_deref(), Some("p@y.io"));
        let line = r#"{"type":"identify","userId":"x@y.io","properties":{"email":"p@y.io"}}"#;
        assert_eq!(
            who(line).email.as_deref(),
            Some("x@y.io"),
            "identify has no properties email"
        );
        assert_eq!(who(r#"{"type":"track","userId":"u_42"}"#).email, None);
        let line = r#"{"type":"track","context":{"traits":{"E-Mail":7,"email":"late@y.io"}}}"#;
        assert_eq!(
            who(line).email,
            None,
            "the first match decides even when it is not text"
        );
    }

    #[test]
    fn name_is_name_or_both_first_and_last() {
        let name = |traits: &str| who(&format!(r#"{{"type":"identify","traits":{traits}}}"#)).name;
        assert_eq!(
            name(r#"{"name":"Ana Lopez","firstName":"X","lastName":"Y"}"#).as_deref(),
            Some("Ana Lopez")
        );
        assert_eq!(
            name(r#"{"first_name":"Ana","Last Name":"Lopez"}"#).as_deref(),
            Some("Ana Lopez")
        );
        assert_eq!(name(r#"{"firstName":"Ana"}"#), None);
        assert_eq!(
            name(r#"{"name":"","firstName":"Ana","lastName":"Lopez"}"#).as_deref(),
            Some("Ana Lopez")
        );
    }

    #[test]
    fn a_message_names_its_company_by_context_group_id_then_traits() {
        let company = |line: &str| own_company(&message(line));
        let line = r#"{"type":"track","userId":"u1","context":{"groupId":"ctx","traits":{"company":{"id":"co"},"companyId":"cid"}}}"#;
        assert_eq!(company(line).as_deref(), Some("ctx"));
        let line =
            r#"{"type":"identify","userId":"u1","traits":{"companyId":"cid","company":{"id":7}}}"#;
        assert_eq!(company(line).as_deref(), Some("7"));
        let line = r#"{"type":"identify","userId":"u1","traits":{"company_id":"cid","company":{"name":"Acme"}}}"#;
        assert_eq!(company(line).as_deref(), Some("cid"));
        assert_eq!(company(r#"{"type":"page","userId":"u1"}"#), None);
    }

    #[test]
    fn a_linked_anonymous_id_stands_in_for_the_user_id_when_nothing_else_tells() {
        use crate::mapping::stitch::{Stitch, Stitching};
        let mut stitching = Stitching::new(Stitch::On);
        for line in [
            r#"{"type":"identify","userId":"u1","anonymousId":"a1"}"#,
            r#"{"type":"alias","userId":"b@x.io","previousId":"a2"}"#,
        ] {
            stitching.learn(&message(line));
        }
        let links = stitching.applied();
        let resolved = |line: &str| person(&message(line), links);
        let w = resolved(r#"{"type":"page","anonymousId":"a1"}"#);
        assert_eq!((w.external_id.as_deref(), w.email), (Some("u1"), None));
        let w = resolved(r#"{"type":"track","anonymousId":"a2"}"#);
        assert_eq!(w.email.as_deref(), Some("b@x.io"));
        let w = resolved(r#"{"type":"identify","anonymousId":"a1","traits":{"id":"t"}}"#);
        assert_eq!(w.external_id.as_deref(), Some("t"), "an id trait tells");
        let shard = |line: &str, links| shard_key(&message(line), links);
        let page = r#"{"type":"page","anonymousId":"a1","messageId":"m"}"#;
        assert_eq!(shard(page, links).as_deref(), Some("u1"));
        assert_eq!(shard(page, None).as_deref(), Some("a1"));
        let never = r#"{"type":"page","anonymousId":"a9","messageId":"m"}"#;
        assert_eq!(shard(never, links).as_deref(), Some("a9"));
    }
}
