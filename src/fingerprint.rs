//! A streaming fingerprint of bytes (SPEC §6): how a checkpoint knows that
//! the lines it counts as handled are the ones a resume reads again. It
//! takes bytes in any pieces, eight at a time, and says at any point what
//! the bytes so far hash to, so the reader can mark the end of every line
//! at the cost of a multiply per word. Not cryptographic: it tells an
//! edited, truncated or swapped input from the one read before, not a
//! forgery.

/// The fingerprint of the bytes given so far. It is saved whole (SPEC
/// §6.1), so that reading can go on from where it stood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fingerprint {
    state: u64,
    /// Bytes short of a whole word, waiting for the next piece.
    tail: [u8; 8],
    tail_len: usize,
    bytes: u64,
}

impl Default for Fingerprint {
    fn default() -> Fingerprint {
        Fingerprint {
            state: 0x9e37_79b9_7f4a_7c15,
            tail: [0; 8],
            tail_len: 0,
            bytes: 0,
        }
    }
}

const MULTIPLIER: u64 = 0xff51_afd7_ed55_8ccd;

fn mix(state: u64, word: u64) -> u64 {
    // The rotation feeds the product's high bits back into the low ones.
    (state ^ word).wrapping_mul(MULTIPLIER).rotate_left(29)
}

impl Fingerprint {
    /// Takes the next bytes.
    pub fn update(&mut self, mut data: &[u8]) {
        self.bytes += data.len() as u64;
        if self.tail_len > 0 {
            let take = (8 - self.tail_len).min(data.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&data[..take]);
            self.tail_len += take;
            data = &data[take..];
            if self.tail_len < 8 {
                return;
            }
            self.state = mix(self.state, u64::from_le_bytes(self.tail));
            self.tail_len = 0;
        }
        let mut words = data.chunks_exact(8);
        for word in &mut words {
            let word = u64::from_le_bytes(word.try_into().expect("chunks of eight"));
            self.state = mix(self.state, word);
        }
        let rest = words.remainder();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
    }

    /// How many bytes were given.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The hash of the bytes so far.
    pub fn hash(&self) -> u64 {
        let mut tail = [0; 8];
        tail[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
        let mut hash = mix(mix(self.state, u64::from_le_bytes(tail)), self.bytes);
        // splitmix64's finalizer, so that near inputs land far apart.
        hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        hash ^ (hash >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(pieces: &[&[u8]]) -> u64 {
        let mut fingerprint = Fingerprint::default();
        for piece in pieces {
            fingerprint.update(piece);
        }
        fingerprint.hash()
    }

    #[test]
    fn the_hash_is_that_of_the_bytes_however_they_are_cut() {
        let text: Vec<u8> = (0..100u8).collect();
        let whole = of(&[&text]);
        for cut in 0..text.len() {
            let (a, b) = text.split_at(cut);
            assert_eq!(of(&[a, b]), whole, "{cut}");
        }
        assert_eq!(of(&[&text[..3], &text[3..5], &text[5..]]), whole);
    }

    #[test]
    fn other_or_fewer_bytes_hash_otherwise() {
        let text = b"{\"type\":\"track\"}\n{\"type\":\"page\"}\n";
        let whole = of(&[text]);
        assert_ne!(of(&[&text[..text.len() - 1]]), whole);
        let mut changed = text.to_vec();
        changed[3] ^= 1;
        assert_ne!(of(&[&changed]), whole);
        // Zero bytes are bytes too.
        assert_ne!(of(&[b"\0"]), of(&[b""]));
        assert_ne!(of(&[b"\0\0"]), of(&[b"\0"]));
    }
}
