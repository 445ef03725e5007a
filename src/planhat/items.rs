//! The JSON items Planhat receives (SPEC §5.2–§5.4, §11): activity items for
//! the analytics bulk endpoint, end-user and company items for bulk upserts,
//! metric items for dimension data.
//! Items borrow from the Segment message they came from, so a large
//! `properties` object is written straight from the parsed message into the
//! request body without being copied.
//!
//! Pure: no I/O.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value, json};

use crate::segment::json::{Object, Value as Json};

use crate::segment::lookup::id_text;
use crate::segment::time::EventTime;
use crate::segment::{Kind, Message};

/// Where an item is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Route {
    /// `POST {analytics}/analytics/bulk/{tenantToken}`.
    Activity,
    /// `PUT {api}/endusers`.
    EndUser,
    /// `PUT {api}/companies`.
    Company,
    /// `POST {api}/dock/segment`, one message per request (SPEC §5.6).
    Receiver,
    /// `POST {analytics}/dimensiondata/{tenantToken}` (SPEC §11).
    Metric,
}

impl Route {
    /// Every route, in the order reports list them.
    pub const ALL: [Route; 5] = [
        Route::Activity,
        Route::EndUser,
        Route::Company,
        Route::Receiver,
        Route::Metric,
    ];

    /// The route's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Route::Activity => "activity",
            Route::EndUser => "end_user",
            Route::Company => "company",
            Route::Receiver => "receiver",
            Route::Metric => "metric",
        }
    }

    /// Whether the route's requests carry a JSON array of items; the
    /// receiver takes one message per request.
    pub fn is_bulk(self) -> bool {
        self != Route::Receiver
    }
}

/// The people and company an event is about (SPEC §5.1).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Who {
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    /// The company's externalId in Planhat.
    pub company: Option<String>,
}

/// One item of a Planhat request.
#[derive(Debug, Clone, PartialEq)]
pub enum Item<'m> {
    Activity(Activity<'m>),
    EndUser(EndUser<'m>),
    Company(Company<'m>),
    Receiver(Forward<'m>),
    Metric(Metric<'m>),
}

impl Item<'_> {
    /// Where this item goes.
    pub fn route(&self) -> Route {
        match self {
            Item::Activity(_) => Route::Activity,
            Item::EndUser(_) => Route::EndUser,
            Item::Company(_) => Route::Company,
            Item::Receiver(_) => Route::Receiver,
            Item::Metric(_) => Route::Metric,
        }
    }
}

/// An activity for the analytics bulk endpoint (SPEC §5.2). An identify
/// sent without an API token is an activity with no action and no info.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity<'m> {
    pub who: Who,
    pub action: Option<String>,
    pub date: Option<EventTime>,
    pub info: Option<Info<'m>>,
    pub source: Option<&'m str>,
    /// From the mapping file, as written there.
    pub weight: Option<&'m serde_json::Number>,
}

/// An activity's `info`: the event's properties, plus for page and screen
/// views the view's own fields (SPEC §5.2).
#[derive(Debug, Clone, PartialEq)]
pub struct Info<'m> {
    pub properties: Option<&'m Object<'m>>,
    /// Keys whose value replaces the property of the same name.
    pub overrides: Vec<(&'static str, &'m Json<'m>)>,
    /// Keys whose value is used only when the property is lacking (absent,
    /// null or `""`).
    pub fallbacks: Vec<(&'static str, &'m Json<'m>)>,
}

/// An end-user upsert item for `PUT /endusers` (SPEC §5.3).
#[derive(Debug, Clone, PartialEq)]
pub struct EndUser<'m> {
    pub who: Who,
    pub first_name: Option<&'m str>,
    pub last_name: Option<&'m str>,
    pub position: Option<&'m str>,
    pub phone: Option<&'m str>,
    /// Fields the mapping file fills (`tags`, `featured`, ...).
    pub fields: Vec<(&'static str, Value)>,
    pub source: Option<&'m str>,
    pub custom: Map<String, Value>,
}

/// A company upsert item for `PUT /companies` (SPEC §5.4).
#[derive(Debug, Clone, PartialEq)]
pub struct Company<'m> {
    pub external_id: String,
    pub name: Option<&'m str>,
    /// Fields the mapping file fills (`domains`, `phase`, ...).
    pub fields: Vec<(&'static str, Value)>,
    pub source: Option<&'m str>,
    pub custom: Map<String, Value>,
}

impl Serialize for Item<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Item::Activity(activity) => activity.serialize(serializer),
            Item::EndUser(end_user) => end_user.serialize(serializer),
            Item::Company(company) => company.serialize(serializer),
            Item::Receiver(forward) => forward.serialize(serializer),
            Item::Metric(metric) => metric.serialize(serializer),
        }
    }
}

/// The Planhat object a metric is about (SPEC §11; Planhat also knows
/// assets and projects, which Segment events do not name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricModel {
    Company,
    EndUser,
}

impl MetricModel {
    /// The name Planhat reads in `model`.
    pub fn name(self) -> &'static str {
        match self {
            MetricModel::Company => "Company",
            MetricModel::EndUser => "EndUser",
        }
    }
}

/// A metric item for `POST /dimensiondata` (SPEC §11): one data point of a
/// time series, for a company or an end user.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric<'m> {
    pub dimension: &'m str,
    pub value: MetricNumber<'m>,
    /// The externalId of the company or end user.
    pub external_id: &'m str,
    pub model: MetricModel,
    /// The event's time; Planhat uses the time it receives it without one.
    pub date: Option<EventTime>,
}

/// A metric's value, written as it was given.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricNumber<'m> {
    /// The mapping file's number.
    Fixed(&'m serde_json::Number),
    /// The event's own JSON number (a `Json::Number`), as the message holds
    /// it.
    Event(&'m Json<'m>),
}

impl Serialize for MetricNumber<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            MetricNumber::Fixed(number) => number.serialize(serializer),
            MetricNumber::Event(number) => number.serialize(serializer),
        }
    }
}

impl Serialize for Metric<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("dimensionId", self.dimension)?;
        map.serialize_entry("value", &self.value)?;
        map.serialize_entry("externalId", self.external_id)?;
        map.serialize_entry("model", self.model.name())?;
        entry(
            &mut map,
            "date",
            self.date.map(|d| d.to_string()).as_deref(),
        )?;
        map.end()
    }
}

/// Writes `key: value` only when there is a value, so items never hold
/// nulls.
fn entry<M: SerializeMap, T: Serialize + ?Sized>(
    map: &mut M,
    key: &str,
    value: Option<&T>,
) -> Result<(), M::Error> {
    match value {
        Some(value) => map.serialize_entry(key, value),
        None => Ok(()),
    }
}

impl Serialize for Activity<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let who = &self.who;
        // Both spellings: Planhat documents `id`/`cId` for the bulk endpoint
        // and `externalId`/`companyExternalId` for the single-event one.
        entry(&mut map, "externalId", who.external_id.as_deref())?;
        entry(&mut map, "id", who.external_id.as_deref())?;
        entry(&mut map, "email", who.email.as_deref())?;
        entry(&mut map, "name", who.name.as_deref())?;
        entry(&mut map, "companyExternalId", who.company.as_deref())?;
        entry(&mut map, "cId", who.company.as_deref())?;
        entry(&mut map, "action", self.action.as_deref())?;
        entry(
            &mut map,
            "date",
            self.date.map(|d| d.to_string()).as_deref(),
        )?;
        entry(&mut map, "info", self.info.as_ref())?;
        entry(&mut map, "source", self.source)?;
        entry(&mut map, "weight", self.weight)?;
        map.end()
    }
}

impl<'m> Serialize for Info<'m> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let find = |list: &[(&'static str, &'m Json<'m>)], key: &str| -> Option<&'m Json<'m>> {
            list.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
        };
        let properties = self.properties.into_iter().flatten();
        for (key, own) in properties.clone() {
            let lacking = !crate::segment::lookup::is_given(own);
            let value = find(&self.overrides, key)
                .or_else(|| find(&self.fallbacks, key).filter(|_| lacking))
                .unwrap_or(own);
            map.serialize_entry(key, value)?;
        }
        let has = |key: &str| properties.clone().any(|(k, _)| k == key);
        for (key, value) in self.overrides.iter().chain(&self.fallbacks) {
            if !has(key) {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

impl Serialize for EndUser<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let who = &self.who;
        entry(&mut map, "externalId", who.external_id.as_deref())?;
        entry(&mut map, "email", who.email.as_deref())?;
        entry(&mut map, "name", who.name.as_deref())?;
        entry(&mut map, "firstName", self.first_name)?;
        entry(&mut map, "lastName", self.last_name)?;
        entry(&mut map, "position", self.position)?;
        entry(&mut map, "phone", self.phone)?;
        for (field, value) in &self.fields {
            map.serialize_entry(field, value)?;
        }
        // Planhat takes a company's externalId in `companyId` with this prefix.
        let company_id = who.company.as_ref().map(|c| format!("extid-{c}"));
        entry(&mut map, "companyId", company_id.as_deref())?;
        entry(&mut map, "source", self.source)?;
        if !self.custom.is_empty() {
            map.serialize_entry("custom", &self.custom)?;
        }
        map.end()
    }
}

impl Serialize for Company<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("externalId", &self.external_id)?;
        entry(&mut map, "name", self.name)?;
        for (field, value) in &self.fields {
            map.serialize_entry(field, value)?;
        }
        entry(&mut map, "source", self.source)?;
        if !self.custom.is_empty() {
            map.serialize_entry("custom", &self.custom)?;
        }
        map.end()
    }
}

/// A Segment message for Planhat's own receiver (SPEC §5.6): the message as
/// received, with `writeKey` and `_planhat` already gone, numeric ids as
/// text, `type` lower-cased (`track` for page and screen, with the view's
/// action as `event`), `user_id` added and, when a company is known,
/// `traits.companyId`.
#[derive(Debug, Clone, PartialEq)]
pub struct Forward<'m> {
    pub message: &'m Message<'m>,
    pub kind: Kind,
    /// The externalId, sent as `user_id`, which the receiver reads first.
    pub user_id: Option<String>,
    /// The company's externalId, sent as `traits.companyId`.
    pub company: Option<String>,
    /// A replacement `event`: the view's action, or a mapping-file action.
    pub event: Option<String>,
}

/// Top-level ids that Segment means as text.
const ID_FIELDS: [&str; 5] = [
    "userId",
    "anonymousId",
    "groupId",
    "previousId",
    "messageId",
];

impl Serialize for Forward<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let kind = match self.kind {
            Kind::Page | Kind::Screen => "track",
            other => other.name(),
        };
        let mut wrote_traits = false;
        for (key, value) in &self.message.fields {
            match key {
                "type" => map.serialize_entry(key, kind)?,
                "event" if self.event.is_some() => map.serialize_entry(key, &self.event)?,
                "user_id" => {}
                "traits" => {
                    wrote_traits = true;
                    match (&self.company, value) {
                        (Some(company), Json::Object(traits)) => {
                            let mut traits = traits.clone();
                            traits.insert("companyId", Json::String(company.as_str().into()));
                            map.serialize_entry(key, &traits)?;
                        }
                        (Some(company), _) => {
                            map.serialize_entry(key, &json!({"companyId": company}))?
                        }
                        (None, _) => map.serialize_entry(key, value)?,
                    }
                }
                id if ID_FIELDS.contains(&id) && value.is_number() => {
                    map.serialize_entry(key, &id_text(Some(value)))?;
                }
                _ => map.serialize_entry(key, value)?,
            }
        }
        if !self.message.fields.contains_key("type") {
            map.serialize_entry("type", kind)?;
        }
        if let Some(event) = &self.event
            && !self.message.fields.contains_key("event")
        {
            map.serialize_entry("event", event)?;
        }
        if let (false, Some(company)) = (wrote_traits, &self.company) {
            map.serialize_entry("traits", &json!({"companyId": company}))?;
        }
        entry(&mut map, "user_id", self.user_id.as_deref())?;
        map.end()
    }
}
