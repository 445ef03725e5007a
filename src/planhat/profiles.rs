//! Coalesced profile upserts (SPEC §6). End-user and company upsert items
//! are collected across activity batches, one item per profile (a company
//! by externalId; an end user by externalId, else email), with its
//! messages' fields merged in input order: a later value wins, `custom` is
//! merged key by key. Sending the merged item leaves Planhat holding what
//! sending the messages one by one would, in one request instead of one per
//! message — which is what makes a backfill with an API token fast, since
//! the main API is paced.
//!
//! Also what the company-first rule needs: whether a company's first upsert
//! is still waiting here.
//!
//! Pure: no I/O, no clock (the caller passes the time).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use serde_json::{Map, Value};

use super::items::{Item, Route, Who};
use super::{Batch, Carried, Limits, MAX_UPSERT_ITEMS, Origin, Originals};
use crate::fnv::fnv1a64;

/// A route is sent once this many messages wait in it, however few profiles
/// they make, or once their items (before merging) add up to this many
/// bytes: they bound the memory held — the originals kept for the failed
/// file are about as large as the items — and the lines a checkpoint cannot
/// count yet. Items, not originals, are measured, so that a dry-run, which
/// keeps no originals, sends exactly the requests that `send` sends.
const MAX_PENDING_MESSAGES: usize = 5 * MAX_UPSERT_ITEMS;
const MAX_PENDING_ITEM_BYTES: usize = 1 << 20;

/// The profiles waiting to be sent, by route.
#[derive(Debug)]
pub struct Profiles {
    users: Pending,
    companies: Pending,
    /// Companies whose first upsert has gone out, by a 64-bit hash of the
    /// externalId: an activity naming one of them need not wait.
    sent_companies: HashSet<u64>,
    limits: Limits,
}

/// One route's waiting profiles, in the order they first appeared.
#[derive(Debug, Default)]
struct Pending {
    by_key: HashMap<String, usize>,
    profiles: Vec<Profile>,
    /// The original messages, for the failed file.
    originals: Originals,
    messages: usize,
    /// The JSON text of the messages' items, before merging.
    item_bytes: usize,
    /// When the oldest waiting profile arrived.
    since: Option<Instant>,
    /// An end user names a company whose first upsert is still waiting.
    names_new_company: bool,
    /// End users: each email a waiting profile carries, with that
    /// profile's key.
    emails: HashMap<String, String>,
}

#[derive(Debug)]
struct Profile {
    /// The merged item as JSON text: one allocation a profile, where a
    /// parsed object takes one a field, and 5000 profiles wait at once.
    json: Vec<u8>,
    /// Each merged message: where it came from and its original's place in
    /// `originals`.
    carried: Vec<Carried>,
}

impl Profiles {
    /// `limits` bound each request: `--max-body-bytes`, and `--batch-size`
    /// under Planhat's 5000 items.
    pub fn new(limits: Limits) -> Profiles {
        Profiles {
            users: Pending::default(),
            companies: Pending::default(),
            sent_companies: HashSet::new(),
            limits,
        }
    }

    /// Whether `item` is an end user whose email a waiting profile of
    /// another key carries, one of the two known by email alone. Planhat
    /// matches an upsert on externalId, then on email, so the two may be one
    /// person: merging the item into its own profile would apply it before
    /// the other's message, which came between, and sending one by one would
    /// not. The waiting end users go first.
    pub fn crosses(&self, item: &Item) -> bool {
        let Item::EndUser(user) = item else {
            return false;
        };
        let Some(email) = &user.who.email else {
            return false;
        };
        // Two externalIds are two people; an email alone may be either.
        let key = user_key(&user.who);
        self.users
            .emails
            .get(email)
            .is_some_and(|other| *other != key && (other.starts_with('e') || key.starts_with('e')))
    }

    /// Merges an end-user or company item into its profile. Returns true
    /// when the route should be sent now: 5000 profiles wait, or so many
    /// messages, or so much text, that memory would grow.
    ///
    /// # Panics
    /// When `item` is not a profile upsert.
    pub fn push(&mut self, item: &Item, origin: Origin, original: &[u8], now: Instant) -> bool {
        self.merge(item, Some((origin, original)), now)
    }

    /// Merges a minimal company upsert that no message of its own carries
    /// (company first, SPEC §6): it goes with the company's profile, and a
    /// failure of it has no line to write to the failed file.
    pub fn announce(&mut self, company: &Item, now: Instant) -> bool {
        self.merge(company, None, now)
    }

    fn merge(&mut self, item: &Item, message: Option<(Origin, &[u8])>, now: Instant) -> bool {
        let (key, company) = match item {
            Item::EndUser(user) => {
                let key = user_key(&user.who);
                if let Some(email) = &user.who.email {
                    self.users.emails.insert(email.clone(), key.clone());
                }
                (key, user.who.company.as_deref())
            }
            Item::Company(company) => (company.external_id.clone(), None),
            other => panic!("{:?} items are not coalesced", other.route()),
        };
        let names_new_company = company.is_some_and(|c| self.is_first_pending(c));
        let pending = self.pending_mut(item.route());
        let json = serde_json::to_vec(item).expect("items always serialize");
        let json_len = json.len();
        let carried = message.map(|(origin, original)| Carried {
            origin,
            original: pending.originals.push(original),
        });
        match pending.by_key.get(&key) {
            Some(&index) => {
                let profile = &mut pending.profiles[index];
                profile.json = merged(&profile.json, &json);
                profile.carried.extend(carried);
            }
            None => {
                pending.by_key.insert(key, pending.profiles.len());
                pending.profiles.push(Profile {
                    json,
                    carried: carried.into_iter().collect(),
                });
            }
        }
        pending.messages += 1;
        pending.item_bytes += json_len;
        pending.since.get_or_insert(now);
        pending.names_new_company |= names_new_company;
        pending.profiles.len() >= MAX_UPSERT_ITEMS
            || pending.messages >= MAX_PENDING_MESSAGES
            || pending.item_bytes >= MAX_PENDING_ITEM_BYTES
    }

    /// Whether the first upsert of `company` is still waiting here: an
    /// activity or end user naming it must not be sent before it.
    pub fn is_first_pending(&self, company: &str) -> bool {
        self.companies.by_key.contains_key(company)
            && !self.sent_companies.contains(&fnv1a64(company.as_bytes()))
    }

    /// Whether the first upsert of `company` has gone out.
    pub fn sent_company(&self, company: &str) -> bool {
        self.sent_companies.contains(&fnv1a64(company.as_bytes()))
    }

    /// The companies whose first upsert has gone out, by hash: what a later
    /// run remembers (SPEC §6.1)...
    pub fn sent_companies(&self) -> impl Iterator<Item = u64> + '_ {
        self.sent_companies.iter().copied()
    }

    /// ...and takes back.
    pub fn restore_sent_companies(&mut self, hashes: impl IntoIterator<Item = u64>) {
        self.sent_companies.extend(hashes);
    }

    /// When the oldest profile waiting on `route` arrived.
    pub fn waiting_since(&self, route: Route) -> Option<Instant> {
        self.pending(route).since
    }

    /// Whether any profile waits.
    pub fn is_empty(&self) -> bool {
        self.users.profiles.is_empty() && self.companies.profiles.is_empty()
    }

    /// Takes every profile waiting on `route`, as requests of at most
    /// `--batch-size` (and 5000) items and `--max-body-bytes` (one larger
    /// item still goes, alone). The first batch is marked when an end user
    /// in it names a company whose first upsert still waits.
    pub fn take(&mut self, route: Route) -> Vec<Batch> {
        let max_body_bytes = self.limits.max_body_bytes;
        let max_items = self.limits.max_items(route);
        let pending = std::mem::take(self.pending_mut(route));
        if route == Route::Company {
            self.sent_companies
                .extend(pending.by_key.keys().map(|key| fnv1a64(key.as_bytes())));
        }
        let body_bytes: usize = pending.profiles.iter().map(|p| p.json.len() + 1).sum();
        if pending.profiles.len() <= max_items && body_bytes < max_body_bytes {
            // One request: it takes the originals as they are, uncopied.
            let mut batch = Batch::new(route);
            batch.names_new_company = pending.names_new_company;
            batch.originals = pending.originals;
            for profile in &pending.profiles {
                batch.push_held(&profile.json, &profile.carried);
            }
            return if batch.entries.is_empty() {
                Vec::new()
            } else {
                vec![batch.close()]
            };
        }
        // Several requests share the originals.
        let fresh = || {
            let mut batch = Batch::new(route);
            batch.originals = pending.originals.clone();
            batch
        };
        let mut batches = Vec::new();
        let mut batch = fresh();
        batch.names_new_company = pending.names_new_company;
        for profile in &pending.profiles {
            let full = batch.entries.len() >= max_items
                || batch.closed_len() + 1 + profile.json.len() > max_body_bytes;
            if full && !batch.entries.is_empty() {
                batches.push(std::mem::replace(&mut batch, fresh()).close());
            }
            batch.push_held(&profile.json, &profile.carried);
        }
        batches.push(batch.close());
        batches
    }

    /// Where every waiting message came from.
    pub fn origins(&self) -> impl Iterator<Item = Origin> + '_ {
        [&self.users, &self.companies]
            .into_iter()
            .flat_map(|pending| &pending.profiles)
            .flat_map(|profile| profile.carried.iter().map(|c| c.origin))
    }

    fn pending(&self, route: Route) -> &Pending {
        match route {
            Route::Company => &self.companies,
            _ => &self.users,
        }
    }

    fn pending_mut(&mut self, route: Route) -> &mut Pending {
        match route {
            Route::Company => &mut self.companies,
            _ => &mut self.users,
        }
    }
}

/// The key an end user's profile waits under: externalId, else email.
fn user_key(who: &Who) -> String {
    match (&who.external_id, &who.email) {
        (Some(id), _) => format!("i{id}"),
        (None, Some(email)) => format!("e{email}"),
        // The mapping never makes an end user without either.
        (None, None) => String::from("-"),
    }
}

/// A profile's JSON text with a later upsert of it merged in.
fn merged(earlier: &[u8], later: &[u8]) -> Vec<u8> {
    let object = |json| match serde_json::from_slice(json) {
        Ok(Value::Object(fields)) => fields,
        _ => unreachable!("profile items are JSON objects"),
    };
    let mut fields = object(earlier);
    merge(&mut fields, object(later));
    serde_json::to_vec(&fields).expect("JSON values always serialize")
}

/// Merges a later upsert of the same profile into `into`: each field the
/// later one has replaces the earlier value, and `custom` is merged key by
/// key, as Planhat applies an upsert to a profile it holds.
fn merge(into: &mut Map<String, Value>, later: Map<String, Value>) {
    for (key, value) in later {
        match (into.get_mut(&key), value) {
            (Some(Value::Object(known)), Value::Object(more)) if key == "custom" => {
                known.extend(more);
            }
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planhat::items::{Company, EndUser, Who};
    use serde_json::json;

    fn user(id: Option<&str>, email: Option<&str>, company: Option<&str>) -> EndUser<'static> {
        EndUser {
            who: Who {
                external_id: id.map(Into::into),
                email: email.map(Into::into),
                name: None,
                company: company.map(Into::into),
            },
            first_name: None,
            last_name: None,
            position: None,
            phone: None,
            fields: Vec::new(),
            source: None,
            custom: Map::new(),
        }
    }

    fn company(id: &str, name: Option<&'static str>, custom: Value) -> Item<'static> {
        let Value::Object(custom) = custom else {
            panic!("custom is an object")
        };
        Item::Company(Company {
            external_id: id.into(),
            name,
            fields: Vec::new(),
            source: None,
            custom,
        })
    }

    fn at(line: u64) -> Origin {
        Origin {
            source: 0,
            line,
            message: 0,
        }
    }

    fn limits(batch_size: usize, max_body_bytes: usize) -> Limits {
        Limits {
            batch_size,
            max_body_bytes,
        }
    }

    fn bodies(batches: &[Batch]) -> Vec<Value> {
        batches
            .iter()
            .map(|b| serde_json::from_slice(&b.body).unwrap())
            .collect()
    }

    #[test]
    fn a_later_value_wins_and_custom_merges_key_by_key() {
        let now = Instant::now();
        let mut profiles = Profiles::new(limits(5000, 1 << 20));
        let mut first = user(Some("u1"), Some("old@x.io"), None);
        first.first_name = Some("Ann");
        first.custom.insert("plan".into(), json!("free"));
        first.custom.insert("seats".into(), json!(3));
        let mut second = user(Some("u1"), Some("new@x.io"), Some("c1"));
        second.custom.insert("plan".into(), json!("pro"));
        second.custom.insert("region".into(), json!("eu"));
        profiles.push(&Item::EndUser(first), at(1), b"one", now);
        profiles.push(&Item::EndUser(second), at(3), b"two", now);
        let batches = profiles.take(Route::EndUser);
        assert_eq!(
            bodies(&batches),
            [json!([{
                "externalId": "u1", "email": "new@x.io", "firstName": "Ann",
                "companyId": "extid-c1",
                "custom": {"plan": "pro", "seats": 3, "region": "eu"}
            }])]
        );
        let entry = &batches[0].entries[0];
        let carried: Vec<_> = batches[0]
            .carried(entry)
            .iter()
            .map(|c| (c.origin, batches[0].original(c).to_vec()))
            .collect();
        assert_eq!(
            carried,
            [(at(1), b"one".to_vec()), (at(3), b"two".to_vec())]
        );
        assert!(profiles.is_empty());
    }

    #[test]
    fn end_users_are_one_profile_by_external_id_else_by_email() {
        let now = Instant::now();
        let mut profiles = Profiles::new(limits(5000, 1 << 20));
        for (line, item) in [
            user(None, Some("a@x.io"), None),
            user(Some("u1"), None, None),
            user(None, Some("a@x.io"), None),
            // The same text as an externalId is another profile: Planhat
            // matches on externalId before email.
            user(Some("a@x.io"), None, None),
        ]
        .into_iter()
        .enumerate()
        {
            profiles.push(&Item::EndUser(item), at(line as u64 + 1), b"", now);
        }
        let body = &bodies(&profiles.take(Route::EndUser))[0];
        assert_eq!(
            body,
            &json!([{"email": "a@x.io"}, {"externalId": "u1"}, {"externalId": "a@x.io"}])
        );
    }

    #[test]
    fn an_email_shared_with_a_profile_of_another_key_sends_the_waiting_ones_first() {
        // Sent one by one, the third identify's name wins: Planhat finds u1
        // by its email. Merged into the first, it would be applied before
        // the second.
        let now = Instant::now();
        let mut profiles = Profiles::new(limits(5000, 1 << 20));
        let mut requests = Vec::new();
        for (id, name) in [(None, "First"), (Some("u1"), "Second"), (None, "Third")] {
            let mut item = user(id, Some("ann@x.io"), None);
            item.who.name = Some(name.into());
            let item = Item::EndUser(item);
            if profiles.crosses(&item) {
                requests.extend(bodies(&profiles.take(Route::EndUser)));
            }
            profiles.push(&item, at(1), b"", now);
        }
        requests.extend(bodies(&profiles.take(Route::EndUser)));
        let names: Vec<&Value> = requests.iter().map(|r| &r[0]["name"]).collect();
        assert_eq!(names, ["First", "Second", "Third"]);
        assert!(requests.iter().all(|r| r.as_array().unwrap().len() == 1));
        // The same person again, by the same key, merges as usual.
        let item = Item::EndUser(user(Some("u1"), Some("ann@x.io"), None));
        profiles.push(&item, at(2), b"", now);
        assert!(!profiles.crosses(&item));
    }

    #[test]
    fn companies_merge_by_external_id_and_names_survive_a_nameless_call() {
        let now = Instant::now();
        let mut profiles = Profiles::new(limits(5000, 1 << 20));
        profiles.push(
            &company("c1", Some("Acme"), json!({"plan": "a"})),
            at(1),
            b"",
            now,
        );
        profiles.push(&company("c2", None, json!({})), at(2), b"", now);
        profiles.push(&company("c1", None, json!({"arr": 5})), at(3), b"", now);
        let body = &bodies(&profiles.take(Route::Company))[0];
        assert_eq!(
            body,
            &json!([{"externalId": "c1", "name": "Acme", "custom": {"plan": "a", "arr": 5}},
                {"externalId": "c2"}])
        );
    }

    #[test]
    fn a_company_is_first_pending_until_its_first_upsert_is_taken() {
        let now = Instant::now();
        let mut profiles = Profiles::new(limits(5000, 1 << 20));
        assert!(!profiles.is_first_pending("c1"));
        profiles.push(&company("c1", None, json!({})), at(1), b"", now);
        assert!(profiles.is_first_pending("c1"));
        // An end user naming it marks the end users' request.
        profiles.push(
            &Item::EndUser(user(Some("u"), None, Some("c1"))),
            at(2),
            b"",
            now,
        );
        assert!(profiles.take(Route::EndUser)[0].names_new_company);
        profiles.take(Route::Company);
        profiles.push(&company("c1", None, json!({})), at(3), b"", now);
        assert!(!profiles.is_first_pending("c1"), "its first upsert went");
        profiles.push(
            &Item::EndUser(user(Some("u"), None, Some("c1"))),
            at(4),
            b"",
            now,
        );
        assert!(!profiles.take(Route::EndUser)[0].names_new_company);
    }

    #[test]
    fn requests_hold_at_most_5000_profiles_and_the_byte_limit() {
        let now = Instant::now();
        let mut profiles = Profiles::new(limits(5000, 1 << 20));
        let mut due = 0;
        for n in 0..5001 {
            let full = profiles.push(&company(&n.to_string(), None, json!({})), at(n), b"", now);
            due += usize::from(full);
        }
        assert_eq!(due, 2, "due at 5000 profiles, and still due after");
        let sizes: Vec<usize> = profiles
            .take(Route::Company)
            .iter()
            .map(|b| b.entries.len())
            .collect();
        assert_eq!(sizes, [5000, 1]);

        // --batch-size bounds upserts too (under 5000): still coalesced.
        let mut one_each = Profiles::new(limits(1, 1 << 20));
        for id in ["a", "b", "a"] {
            one_each.push(&company(id, None, json!({})), at(1), b"", now);
        }
        let sizes: Vec<usize> = one_each
            .take(Route::Company)
            .iter()
            .map(|b| b.entries.len())
            .collect();
        assert_eq!(sizes, [1, 1]);

        let one = br#"{"externalId":"n"}"#.len();
        let mut small = Profiles::new(limits(5000, 2 * one + 3));
        for id in ["a", "b", "c"] {
            small.push(&company(id, None, json!({})), at(1), b"", now);
        }
        let batches = small.take(Route::Company);
        assert_eq!(
            batches.iter().map(|b| b.entries.len()).collect::<Vec<_>>(),
            [2, 1]
        );
        assert!(batches.iter().all(|b| b.body.len() <= 2 * one + 3));
    }

    #[test]
    fn the_oldest_profile_sets_the_flush_time_and_origins_are_all_kept() {
        let start = Instant::now();
        let later = start + std::time::Duration::from_secs(1);
        let mut profiles = Profiles::new(limits(5000, 1 << 20));
        assert_eq!(profiles.waiting_since(Route::Company), None);
        profiles.push(&company("c", None, json!({})), at(7), b"", start);
        profiles.push(&company("c", None, json!({})), at(9), b"", later);
        profiles.push(
            &Item::EndUser(user(Some("u"), None, None)),
            at(8),
            b"",
            later,
        );
        assert_eq!(profiles.waiting_since(Route::Company), Some(start));
        assert_eq!(profiles.waiting_since(Route::EndUser), Some(later));
        let mut origins: Vec<u64> = profiles.origins().map(|o| o.line).collect();
        origins.sort_unstable();
        assert_eq!(origins, [7, 8, 9]);
    }
}
