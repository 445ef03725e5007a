//! What a mapper remembers from one run to the next (SPEC §6.1): the users'
//! company changes (§5.1), the stitching links (§5.7), the dedupe window
//! (§5.5) and each company's first group-call name with whether a minimal
//! upsert is still owed (§6). It is given out and taken back in pieces of a
//! few thousand entries, so that saving or loading it never needs a second
//! copy of it in memory; where and how the pieces are stored is the
//! caller's business.
//!
//! Pure: no I/O.

use serde::{Deserialize, Serialize};

use super::Mapper;
use super::companies::Block;
use super::companies::first_groups::SavedGroup;

/// Entries a piece holds, at most.
const PIECE: usize = 1 << 14;

/// One piece of what a mapper remembers. Pieces come in the order below,
/// and each kind's pieces in their own order: companies before the changes
/// that name them by index, linked users before the links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Piece {
    Companies(Vec<String>),
    Changes(Block),
    LinkedUsers(Vec<String>),
    /// anonymousId hash → index of its user.
    Links(Vec<(u64, u32)>),
    /// The window's messageId hashes, oldest first.
    Dedupe(Vec<u64>),
    Groups(Vec<SavedGroup>),
}

/// A piece that does not fit what came before it: the saved memory is
/// damaged, or was written with other options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged(pub &'static str);

/// The items of `items` in pieces of at most [`PIECE`].
fn in_pieces<T>(
    mut items: impl Iterator<Item = T>,
    piece: fn(Vec<T>) -> Piece,
) -> impl Iterator<Item = Piece> {
    std::iter::from_fn(move || {
        let chunk: Vec<T> = items.by_ref().take(PIECE).collect();
        (!chunk.is_empty()).then(|| piece(chunk))
    })
}

impl Mapper {
    /// Everything this mapper would need to map later input as one run
    /// over all of it would, in pieces. `delivered` says whether a
    /// company's upsert went out: an announced company whose upsert did
    /// not is owed again by a later run.
    pub fn remembered<'a>(
        &'a mut self,
        delivered: impl Fn(&str) -> bool + 'a,
    ) -> impl Iterator<Item = Piece> + 'a {
        self.associations.settle();
        let this: &'a Mapper = self;
        let (companies, changes) = this.associations.saved();
        let companies = in_pieces(companies.iter().map(str::to_owned), Piece::Companies);
        let changes = changes.blocks().iter().cloned().map(Piece::Changes);
        let links = this.stitching.applied().map(|links| {
            let (users, links) = links.saved();
            in_pieces(users.iter().map(str::to_owned), Piece::LinkedUsers)
                .chain(in_pieces(links, Piece::Links))
        });
        let dedupe = in_pieces(this.dedupe.hashes(), Piece::Dedupe);
        let groups = in_pieces(this.first_groups.saved(delivered), Piece::Groups);
        companies
            .chain(changes)
            .chain(links.into_iter().flatten())
            .chain(dedupe)
            .chain(groups)
    }

    /// Takes back a piece of [`Mapper::remembered`], in the order given.
    pub fn restore(&mut self, piece: Piece) -> Result<(), Damaged> {
        let fits = match piece {
            Piece::Companies(companies) => companies
                .iter()
                .all(|company| self.associations.restore_company(company)),
            Piece::Changes(block) => self.associations.restore_changes(block),
            Piece::LinkedUsers(users) => match self.stitching.applied_mut() {
                Some(links) => users.iter().all(|user| links.restore_user(user)),
                None => false,
            },
            Piece::Links(pairs) => match self.stitching.applied_mut() {
                Some(links) => pairs
                    .into_iter()
                    .all(|(anonymous, user)| links.restore_link(anonymous, user)),
                None => false,
            },
            Piece::Dedupe(hashes) => {
                self.dedupe.restore(hashes);
                true
            }
            Piece::Groups(groups) => {
                for group in groups {
                    self.first_groups.restore(group);
                }
                true
            }
        };
        if fits {
            Ok(())
        } else {
            Err(Damaged("a piece does not fit the ones before it"))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::mapping::stitch::Stitch;
    use crate::mapping::{Lessons, Options, Outcome, Skip};
    use crate::planhat::items::Item;
    use crate::segment::parse_line;

    fn lines(values: &[serde_json::Value]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    /// What each line maps to, as text: its outcome and announced company.
    fn map_all(mapper: &mut Mapper, lines: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for line in lines {
            for message in parse_line(line.as_bytes()) {
                let message = message.unwrap();
                let mapped = mapper.map_with(&message, Lessons::All);
                let outcome = match &mapped.outcome {
                    Outcome::Send(Item::Activity(a)) => {
                        format!("activity {:?} {:?}", a.who.external_id, a.who.company)
                    }
                    Outcome::Send(Item::EndUser(u)) => format!("user {:?}", u.who.company),
                    Outcome::Send(item) => format!("{:?}", item.route()),
                    other => format!("{other:?}"),
                };
                let announced = mapped.announce.as_ref().map(|c| c.external_id.clone());
                out.push(format!("{outcome} {announced:?}"));
            }
        }
        out
    }

    fn first_pass(mapper: &mut Mapper, lines: &[String]) {
        mapper.begin_first_pass(true);
        for line in lines {
            for message in parse_line(line.as_bytes()) {
                mapper.learn(&message.unwrap());
            }
        }
        mapper.end_first_pass(Vec::<std::vec::IntoIter<_>>::new());
    }

    #[test]
    fn a_mapper_restored_from_its_pieces_maps_new_input_as_one_run_over_all_would() {
        let options = Options {
            profiles: true,
            stitch: Stitch::On,
            dedupe_window: 4,
            ..Options::default()
        };
        let history = lines(&[
            json!({"type":"group","userId":"u1","groupId":"acme","traits":{"name":"Acme"},
                "timestamp":"2024-01-01T00:00:00Z","messageId":"m1"}),
            json!({"type":"track","userId":"u1","anonymousId":"a1","event":"E",
                "timestamp":"2024-01-02T00:00:00Z","messageId":"m2"}),
            json!({"type":"track","userId":"u2","event":"E","context":{"groupId":"globex"},
                "messageId":"m3"}),
            json!({"type":"group","userId":"u9","groupId":"globex","messageId":"m3b"}),
        ]);
        let new = lines(&[
            json!({"type":"track","userId":"u1","event":"E","messageId":"m2"}),
            json!({"type":"page","anonymousId":"a1","timestamp":"2024-01-03T00:00:00Z",
                "messageId":"m4"}),
            json!({"type":"track","userId":"u3","event":"E","context":{"groupId":"globex"},
                "messageId":"m5"}),
            json!({"type":"group","userId":"u1","groupId":"initech",
                "timestamp":"2024-02-01T00:00:00Z","messageId":"m6"}),
            json!({"type":"track","userId":"u1","event":"E",
                "timestamp":"2024-03-01T00:00:00Z","messageId":"m7"}),
            json!({"type":"group","userId":"u9","groupId":"globex","messageId":"m8"}),
        ]);
        // One run over all of it.
        let all: Vec<String> = history.iter().chain(&new).cloned().collect();
        let mut whole = Mapper::new(options.clone());
        first_pass(&mut whole, &all);
        let expected = map_all(&mut whole, &all)[history.len()..].to_vec();

        // A run over history, saved; a new mapper restored from it maps the
        // new lines after a first pass over them alone.
        let mut before = Mapper::new(options.clone());
        first_pass(&mut before, &history);
        map_all(&mut before, &history);
        let pieces: Vec<Piece> = before.remembered(|_| true).collect();
        let mut after = Mapper::new(options);
        for piece in pieces {
            after.restore(piece).unwrap();
        }
        first_pass(&mut after, &new);
        assert_eq!(map_all(&mut after, &new), expected);
        assert!(expected[0].contains(&format!("{:?}", Skip::Duplicate)));
        assert!(expected[1].contains("\"u1\""), "stitched: {}", expected[1]);
        assert!(
            expected[2].ends_with("None"),
            "globex was announced in history: {expected:?}"
        );
    }

    #[test]
    fn a_piece_out_of_place_is_damage() {
        let mut mapper = Mapper::new(Options::default());
        let error = mapper.restore(Piece::LinkedUsers(vec!["u".into()]));
        assert!(error.is_err(), "no links without --stitch");
        let mut other = Mapper::new(Options::default());
        other.associations.learn("u", "acme", None);
        let pieces: Vec<Piece> = other.remembered(|_| true).collect();
        let changes = pieces
            .iter()
            .find(|p| matches!(p, Piece::Changes(_)))
            .unwrap()
            .clone();
        assert!(mapper.restore(changes).is_err(), "before its companies");
    }
}
