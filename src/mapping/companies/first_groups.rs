//! What company-first needs of the first pass (SPEC §6): each company's
//! first group-call `name`, and whether its group call has been reached or
//! it has been announced, so that a company an event names before its group
//! call is upserted, minimally, before the event.
//!
//! Pure: no I/O.

use std::collections::HashMap;

/// What the first pass keeps of each company that has a group call.
/// Companies are few: kept by their ids' text.
#[derive(Debug, Default)]
pub struct FirstGroups {
    companies: HashMap<String, FirstGroup>,
}

#[derive(Debug)]
struct FirstGroup {
    /// The `name` trait of its first group call, if it had one.
    name: Option<String>,
    /// Whether the run has reached its first group call: its own upsert
    /// comes then, so no minimal one is owed.
    reached: bool,
    /// Whether a minimal upsert of it was made already.
    announced: bool,
}

impl FirstGroups {
    /// Notes a group call the first pass reads: the first one of a company
    /// gives its name.
    pub fn group_call(&mut self, company: &str, name: Option<&str>) {
        if !self.companies.contains_key(company) {
            let first = FirstGroup {
                name: name.map(str::to_owned),
                reached: false,
                announced: false,
            };
            self.companies.insert(company.to_owned(), first);
        }
    }

    /// Notes that the run reached a group call of `company`: its own upsert
    /// comes now, so no minimal one is owed.
    pub fn reached(&mut self, company: &str) {
        if let Some(first) = self.companies.get_mut(company) {
            first.reached = true;
        }
    }

    /// When `company` has a group call later in the input and has not been
    /// announced: its first group call's name (`Some(None)` when that call
    /// had none), and the company counts as announced from now on.
    pub fn announce(&mut self, company: &str) -> Option<Option<&str>> {
        let first = self.companies.get_mut(company)?;
        if first.reached || first.announced {
            return None;
        }
        first.announced = true;
        Some(first.name.as_deref())
    }
}

/// A company as the saved memory keeps it (SPEC §6.1): its first group
/// call's name, and whether no minimal upsert is owed any more.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SavedGroup {
    pub company: String,
    pub name: Option<String>,
    pub settled: bool,
}

impl FirstGroups {
    /// Every company as saved: settled when its group call was reached, or
    /// when it was announced and `delivered` says its upsert went out (an
    /// announcement still waiting when a run stops is owed again).
    pub fn saved(&self, delivered: impl Fn(&str) -> bool) -> impl Iterator<Item = SavedGroup> {
        self.companies
            .iter()
            .map(move |(company, first)| SavedGroup {
                company: company.clone(),
                name: first.name.clone(),
                settled: first.reached || first.announced && delivered(company),
            })
    }

    /// Adds a company saved by [`FirstGroups::saved`].
    pub fn restore(&mut self, saved: SavedGroup) {
        let first = FirstGroup {
            name: saved.name,
            reached: saved.settled,
            announced: false,
        };
        self.companies.insert(saved.company, first);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_company_is_announced_once_and_not_after_its_group_call() {
        let mut firsts = FirstGroups::default();
        firsts.group_call("acme", Some("Acme"));
        firsts.group_call("acme", Some("Acme Inc"));
        firsts.group_call("globex", None);
        firsts.group_call("initech", Some("Initech"));
        assert_eq!(
            firsts.announce("acme"),
            Some(Some("Acme")),
            "the first name"
        );
        assert_eq!(firsts.announce("acme"), None, "once");
        assert_eq!(firsts.announce("globex"), Some(None));
        firsts.reached("initech");
        assert_eq!(firsts.announce("initech"), None, "its own upsert came");
        assert_eq!(firsts.announce("never-grouped"), None);
    }
}
