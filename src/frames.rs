//! Files written and read one value at a time: each value is encoded by
//! `postcard` and framed by COBS (its own framing, which ends every frame
//! with a zero byte and puts none inside), so a reader holds one frame at a
//! time however large the file. The saved memory (SPEC §6.1) and the first
//! pass's spilled associations (§5.1) are written this way, in pieces of a
//! few thousand entries, so that neither writing nor reading them needs
//! memory for the whole.

use std::io::{self, BufRead, Write};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Writes values one frame each.
pub struct FrameWriter<W: Write> {
    out: W,
}

impl<W: Write> FrameWriter<W> {
    pub fn new(out: W) -> FrameWriter<W> {
        FrameWriter { out }
    }

    pub fn write<T: Serialize + ?Sized>(&mut self, value: &T) -> io::Result<()> {
        let frame = postcard::to_allocvec_cobs(value).map_err(io::Error::other)?;
        self.out.write_all(&frame)
    }

    /// The writer, flushed.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Reads values one frame each.
pub struct FrameReader<R: BufRead> {
    input: R,
    frame: Vec<u8>,
}

impl<R: BufRead> FrameReader<R> {
    pub fn new(input: R) -> FrameReader<R> {
        FrameReader {
            input,
            frame: Vec::new(),
        }
    }

    /// The next value, or `None` at the end of the input. A frame cut off
    /// or not of type `T` is an `InvalidData` error.
    pub fn read<T: DeserializeOwned>(&mut self) -> io::Result<Option<T>> {
        self.frame.clear();
        if self.input.read_until(0, &mut self.frame)? == 0 {
            return Ok(None);
        }
        if self.frame.last() != Some(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the file ends in the middle of a frame",
            ));
        }
        postcard::from_bytes_cobs(&mut self.frame)
            .map(Some)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_back_one_frame_at_a_time_and_a_cut_frame_is_an_error() {
        let mut writer = FrameWriter::new(Vec::new());
        writer.write(&(1u32, "one".to_owned())).unwrap();
        writer.write(&vec![0u64, 0, u64::MAX]).unwrap();
        let bytes = writer.finish().unwrap();
        let mut reader = FrameReader::new(&bytes[..]);
        let first: (u32, String) = reader.read().unwrap().unwrap();
        assert_eq!(first, (1, "one".to_owned()));
        let second: Vec<u64> = reader.read().unwrap().unwrap();
        assert_eq!(second, [0, 0, u64::MAX]);
        assert!(reader.read::<Vec<u64>>().unwrap().is_none());

        let cut = &bytes[..bytes.len() - 3];
        let mut reader = FrameReader::new(cut);
        reader.read::<(u32, String)>().unwrap();
        let error = reader.read::<Vec<u64>>().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }
}
