//! The original Segment messages a batch carries, for the failed file
//! (SPEC §6). They are two to three times the size of the items made from
//! them, and a request is filled to `--max-body-bytes` (8 MiB) while the
//! one before it is in flight: kept as they came, two requests' originals
//! alone would break §8's 64 MiB. So they are compressed (LZ4) a block at a
//! time as they come, and a block is read back only when one of its items
//! fails. The halves of a split batch share their blocks.
//!
//! Pure: no I/O.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::{Arc, Mutex};

/// Bytes of messages compressed together: large enough to compress well,
/// small enough that reading one failed message back is quick.
const BLOCK: usize = 256 * 1024;

/// Messages appended end to end, each found again by its range.
#[derive(Default)]
pub struct Originals {
    /// Every compressed block, end to end, in one buffer: blocks of their
    /// own would be many small allocations, freed in a different order
    /// from the one they were made in, and a fragmented heap keeps its
    /// pages. Shared by copies, which only read it.
    compressed: Arc<Vec<u8>>,
    /// Each block: the offset of its first message byte, and where it is
    /// in `compressed`. A message never spans two blocks.
    blocks: Vec<(usize, Range<usize>)>,
    /// The block being filled, as it came.
    open: Vec<u8>,
    /// The offset of `open`'s first byte.
    open_at: usize,
    /// The block last read back, by its place in `blocks`: a split or a
    /// failed request reads its messages in order.
    last_read: Mutex<Option<(usize, Vec<u8>)>>,
}

thread_local! {
    /// Where a block is compressed before it is appended.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Originals {
    /// Appends a message; returns where it is.
    pub fn push(&mut self, message: &[u8]) -> Range<usize> {
        let start = self.open_at + self.open.len();
        self.open.extend_from_slice(message);
        let range = start..start + message.len();
        if self.open.len() >= BLOCK {
            let compressed = Arc::make_mut(&mut self.compressed);
            SCRATCH.with_borrow_mut(|scratch| {
                scratch.resize(lz4_flex::block::get_maximum_output_size(self.open.len()), 0);
                let len = lz4_flex::block::compress_into(&self.open, scratch)
                    .expect("the output has room for the worst case");
                let at = compressed.len();
                compressed.extend_from_slice(&scratch[..len]);
                self.blocks.push((self.open_at, at..at + len));
            });
            self.open_at += self.open.len();
            self.open.clear();
        }
        range
    }

    /// The message at `range`, as it was pushed.
    pub fn get(&self, range: Range<usize>) -> Cow<'_, [u8]> {
        if range.start >= self.open_at {
            let at = range.start - self.open_at..range.end - self.open_at;
            return Cow::Borrowed(&self.open[at]);
        }
        let index = self
            .blocks
            .partition_point(|(start, _)| *start <= range.start)
            - 1;
        let at = range.start - self.blocks[index].0..range.end - self.blocks[index].0;
        let mut last = self
            .last_read
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.as_ref().is_none_or(|(read, _)| *read != index) {
            *last = Some((index, self.block(index)));
        }
        let (_, block) = last.as_ref().expect("just read");
        Cow::Owned(block[at].to_vec())
    }

    /// The block at `index`, decompressed.
    fn block(&self, index: usize) -> Vec<u8> {
        let (start, stored) = &self.blocks[index];
        let end = self
            .blocks
            .get(index + 1)
            .map_or(self.open_at, |(next, _)| *next);
        lz4_flex::block::decompress(&self.compressed[stored.clone()], end - start)
            .expect("a block this process compressed decompresses")
    }

    /// Every message as one run of bytes, in order (for comparisons).
    fn whole(&self) -> Vec<u8> {
        let mut whole = Vec::with_capacity(self.open_at + self.open.len());
        for index in 0..self.blocks.len() {
            whole.extend_from_slice(&self.block(index));
        }
        whole.extend_from_slice(&self.open);
        whole
    }
}

/// A copy shares the compressed blocks.
impl Clone for Originals {
    fn clone(&self) -> Originals {
        Originals {
            compressed: Arc::clone(&self.compressed),
            blocks: self.blocks.clone(),
            open: self.open.clone(),
            open_at: self.open_at,
            last_read: Mutex::new(None),
        }
    }
}

impl PartialEq for Originals {
    fn eq(&self, other: &Originals) -> bool {
        self.whole() == other.whole()
    }
}

impl Eq for Originals {}

impl std::fmt::Debug for Originals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Originals({} bytes, {} blocks compressed)",
            self.open_at + self.open.len(),
            self.blocks.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_come_back_as_pushed_from_compressed_blocks_and_copies() {
        let mut originals = Originals::default();
        let messages: Vec<String> = (0..20_000)
            .map(|i| format!("{{\"type\":\"track\",\"event\":\"Event {i}\",\"userId\":\"u{i}\"}}"))
            .collect();
        let ranges: Vec<Range<usize>> = messages
            .iter()
            .map(|m| originals.push(m.as_bytes()))
            .collect();
        let last = originals.push(b"last");
        assert!(originals.blocks.len() >= 2, "{originals:?}");
        let stored = originals.compressed.len();
        assert!(
            stored * 3 < originals.open_at,
            "compressed: {stored} of {}",
            originals.open_at
        );
        let copy = originals.clone();
        for (message, range) in messages.iter().zip(&ranges).rev() {
            assert_eq!(&*originals.get(range.clone()), message.as_bytes());
            assert_eq!(&*copy.get(range.clone()), message.as_bytes());
        }
        assert_eq!(copy, originals);
        assert_eq!(&*originals.get(last), b"last", "from the open block");
    }
}
