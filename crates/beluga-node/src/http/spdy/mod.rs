//! The SPDY/3.1 framing kubectl's port-forward speaks (spec §4.4; the frames as moby/spdystream's
//! `spdy` package reads and writes them): control frames SYN_STREAM, SYN_REPLY, RST_STREAM,
//! SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE, and data frames. Header blocks are zlib
//! streams with SPDY's dictionary, one stream per direction for the whole session, each block
//! ending in a sync flush.

mod dictionary;

use dictionary::DICTIONARY;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

const VERSION: u16 = 3;
pub const FLAG_FIN: u8 = 0x01;
const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
/// RST_STREAM's status for a stream refused by its handler (spdystream's `Reset`).
pub const CANCEL: u32 = 5;
/// A header block larger than this once inflated is refused (a zlib bomb).
const MAX_HEADERS: usize = 256 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpdyError {
    #[error("unsupported SPDY version {0}")]
    Version(u16),
    #[error("malformed {0} frame")]
    Malformed(&'static str),
    #[error("header block: {0}")]
    Headers(String),
}

/// One frame read from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    SynStream {
        stream: u32,
        fin: bool,
        headers: Vec<(String, String)>,
    },
    SynReply {
        stream: u32,
        headers: Vec<(String, String)>,
    },
    RstStream {
        stream: u32,
        status: u32,
    },
    Ping(u32),
    GoAway,
    Data {
        stream: u32,
        fin: bool,
        data: Vec<u8>,
    },
    /// SETTINGS, HEADERS, WINDOW_UPDATE and unknown control frames: read and ignored (the
    /// clients do not enforce flow-control windows).
    Ignored(u16),
}

/// Frames from a byte stream: bytes are pushed as they come, frames taken when whole.
pub struct Decoder {
    buf: Vec<u8>,
    inflate: Decompress,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            buf: Vec::new(),
            inflate: Decompress::new(true),
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Decoder {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, if the bytes so far hold one.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, SpdyError> {
        if self.buf.len() < 8 {
            return Ok(None);
        }
        let len = (u32_at(&self.buf, 4) & 0x00ff_ffff) as usize;
        if self.buf.len() < 8 + len {
            return Ok(None);
        }
        let frame: Vec<u8> = self.buf.drain(..8 + len).collect();
        let flags = frame[4];
        let body = &frame[8..];
        if frame[0] & 0x80 == 0 {
            return Ok(Some(Frame::Data {
                stream: u32_at(&frame, 0) & 0x7fff_ffff,
                fin: flags & FLAG_FIN != 0,
                data: body.to_vec(),
            }));
        }
        let version = u16::from_be_bytes([frame[0], frame[1]]) & 0x7fff;
        if version != VERSION {
            return Err(SpdyError::Version(version));
        }
        let kind = u16::from_be_bytes([frame[2], frame[3]]);
        self.control(kind, flags, body).map(Some)
    }

    fn control(&mut self, kind: u16, flags: u8, body: &[u8]) -> Result<Frame, SpdyError> {
        let need = |n: usize, what| {
            if body.len() < n {
                Err(SpdyError::Malformed(what))
            } else {
                Ok(())
            }
        };
        Ok(match kind {
            SYN_STREAM => {
                need(10, "SYN_STREAM")?;
                Frame::SynStream {
                    stream: u32_at(body, 0) & 0x7fff_ffff,
                    fin: flags & FLAG_FIN != 0,
                    headers: self.headers(&body[10..])?,
                }
            }
            SYN_REPLY => {
                need(4, "SYN_REPLY")?;
                Frame::SynReply {
                    stream: u32_at(body, 0) & 0x7fff_ffff,
                    headers: self.headers(&body[4..])?,
                }
            }
            RST_STREAM => {
                need(8, "RST_STREAM")?;
                Frame::RstStream {
                    stream: u32_at(body, 0) & 0x7fff_ffff,
                    status: u32_at(body, 4),
                }
            }
            PING => {
                need(4, "PING")?;
                Frame::Ping(u32_at(body, 0))
            }
            GOAWAY => Frame::GoAway,
            HEADERS => {
                // Read to keep the inflate stream in step with the peer's deflate.
                need(4, "HEADERS")?;
                self.headers(&body[4..])?;
                Frame::Ignored(HEADERS)
            }
            other => Frame::Ignored(other),
        })
    }

    /// A compressed header block, inflated and parsed.
    fn headers(&mut self, compressed: &[u8]) -> Result<Vec<(String, String)>, SpdyError> {
        let block = self.inflate_block(compressed)?;
        parse_header_block(&block)
    }

    fn inflate_block(&mut self, input: &[u8]) -> Result<Vec<u8>, SpdyError> {
        let mut out = Vec::with_capacity(input.len() * 4 + 64);
        let mut used = 0;
        while used < input.len() {
            if out.len() > MAX_HEADERS {
                return Err(SpdyError::Headers("too large".into()));
            }
            out.reserve(1024);
            let before = self.inflate.total_in();
            match self
                .inflate
                .decompress_vec(&input[used..], &mut out, FlushDecompress::Sync)
            {
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate
                        .set_dictionary(&DICTIONARY)
                        .map_err(|e| SpdyError::Headers(e.to_string()))?;
                }
                Err(e) => return Err(SpdyError::Headers(e.to_string())),
            }
            let consumed = (self.inflate.total_in() - before) as usize;
            used += consumed;
            if consumed == 0 && out.len() < out.capacity() {
                return Err(SpdyError::Headers("truncated".into()));
            }
        }
        Ok(out)
    }
}

/// `count, (name length, name, value length, value)*`, all lengths 32-bit big-endian; names
/// lower-cased as spdystream does.
fn parse_header_block(b: &[u8]) -> Result<Vec<(String, String)>, SpdyError> {
    let bad = || SpdyError::Headers("malformed name/value block".into());
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<&[u8], SpdyError> {
        let s = b
            .get(at..at.checked_add(n).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        at += n;
        Ok(s)
    };
    let count = u32_at(take(4)?, 0);
    let mut headers = Vec::new();
    for _ in 0..count {
        let n = u32_at(take(4)?, 0) as usize;
        let name = String::from_utf8_lossy(take(n)?).to_ascii_lowercase();
        let n = u32_at(take(4)?, 0) as usize;
        let value = String::from_utf8_lossy(take(n)?).into_owned();
        headers.push((name, value));
    }
    Ok(headers)
}

/// Frames to write. Header blocks share one deflate stream, so frames with headers must be
/// written in the order they were encoded.
pub struct Encoder {
    deflate: Compress,
}

impl Default for Encoder {
    fn default() -> Self {
        let mut deflate = Compress::new(Compression::default(), true);
        // Only fails on a stream already started; this one is new.
        let _ = deflate.set_dictionary(&DICTIONARY);
        Encoder { deflate }
    }
}

fn control_frame(kind: u16, flags: u8, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + body.len());
    f.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    f.extend_from_slice(&kind.to_be_bytes());
    f.extend_from_slice(&((u32::from(flags) << 24) | body.len() as u32).to_be_bytes());
    f.extend_from_slice(body);
    f
}

/// A data frame (at most 16 MiB − 1 of data, which callers' buffers are far below).
pub fn data(stream: u32, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + payload.len());
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    let flags = if fin { FLAG_FIN } else { 0 };
    f.extend_from_slice(&((u32::from(flags) << 24) | payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

pub fn ping(id: u32) -> Vec<u8> {
    control_frame(PING, 0, &id.to_be_bytes())
}

pub fn rst_stream(stream: u32, status: u32) -> Vec<u8> {
    let mut body = stream.to_be_bytes().to_vec();
    body.extend_from_slice(&status.to_be_bytes());
    control_frame(RST_STREAM, 0, &body)
}

pub fn goaway(last_stream: u32) -> Vec<u8> {
    let mut body = last_stream.to_be_bytes().to_vec();
    body.extend_from_slice(&0u32.to_be_bytes());
    control_frame(GOAWAY, 0, &body)
}

impl Encoder {
    pub fn syn_reply(&mut self, stream: u32, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut body = stream.to_be_bytes().to_vec();
        body.extend(self.header_block(headers));
        control_frame(SYN_REPLY, 0, &body)
    }

    /// A client's SYN_STREAM (the tests play kubectl's part with it).
    #[cfg(test)]
    pub fn syn_stream(&mut self, stream: u32, fin: bool, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut body = stream.to_be_bytes().to_vec();
        body.extend_from_slice(&0u32.to_be_bytes());
        body.extend_from_slice(&[0, 0]);
        body.extend(self.header_block(headers));
        control_frame(SYN_STREAM, if fin { FLAG_FIN } else { 0 }, &body)
    }

    fn header_block(&mut self, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut raw = (headers.len() as u32).to_be_bytes().to_vec();
        for (name, value) in headers {
            raw.extend_from_slice(&(name.len() as u32).to_be_bytes());
            raw.extend(name.bytes().map(|c| c.to_ascii_lowercase()));
            raw.extend_from_slice(&(value.len() as u32).to_be_bytes());
            raw.extend_from_slice(value.as_bytes());
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut used = 0;
        loop {
            out.reserve(raw.len() + 64);
            let before = self.deflate.total_in();
            let status = self
                .deflate
                .compress_vec(&raw[used..], &mut out, FlushCompress::Sync);
            used += (self.deflate.total_in() - before) as usize;
            // The sync flush is complete once all input is in and output room was left over.
            let done = used == raw.len() && out.len() < out.capacity();
            if done || !matches!(status, Ok(Status::Ok | Status::BufError)) {
                return out;
            }
        }
    }
}

#[cfg(test)]
mod tests;
