//! Splitting a serial byte stream into line frames.
//!
//! Serial scanners end a barcode with CR, LF or CRLF (whatever their suffix is configured to),
//! and scales end every reply with CRLF. A read from the port returns whatever happened to be
//! in the driver's buffer, so one frame may arrive in several reads and one read may hold
//! several frames. [`LineFramer`] owns that reassembly and nothing else: it is pure (no I/O,
//! no clock) and returns raw bytes, leaving text decoding and validation to the protocol that
//! knows what a frame should contain. Its memory is bounded by `max_len` so a device that
//! streams garbage without terminators cannot grow it.

/// Which bytes end a frame.
///
/// Terminator bytes are never part of a frame, and empty frames are skipped silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminator {
    /// CR ends a frame; LF bytes are dropped wherever they appear.
    Cr,
    /// LF ends a frame; CR bytes are dropped wherever they appear.
    Lf,
    /// The pair CR LF ends a frame. A CR not followed by LF, and an LF not preceded by CR, are
    /// line noise and are dropped.
    CrLf,
    /// CR or LF ends a frame; CRLF (and LFCR) counts once because the empty frame between the
    /// two bytes is skipped.
    Any,
}

/// One complete frame, or the report of one that was thrown away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Line(Vec<u8>),
    Rejected(Rejection),
}

/// Why a frame was thrown away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The frame had `len` bytes, more than the framer's `max_len`.
    TooLong { len: usize },
}

/// Reassembles frames from arbitrarily split reads.
#[derive(Debug)]
pub struct LineFramer {
    terminator: Terminator,
    max_len: usize,
    /// Bytes of the unfinished frame; never more than `max_len`.
    buf: Vec<u8>,
    /// Length of the unfinished frame when it has already exceeded `max_len` (its bytes are
    /// discarded, only the count is kept).
    overflow: Option<usize>,
    /// Under [`Terminator::CrLf`]: the previous byte was a CR.
    after_cr: bool,
}

impl LineFramer {
    pub fn new(terminator: Terminator, max_len: usize) -> Self {
        LineFramer {
            terminator,
            max_len,
            buf: Vec::new(),
            overflow: None,
            after_cr: false,
        }
    }

    /// Feeds bytes; complete frames are appended to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Frame>) {
        for &b in bytes {
            let after_cr = std::mem::replace(&mut self.after_cr, false);
            let ends_frame = match (self.terminator, b) {
                (Terminator::Cr, b'\r')
                | (Terminator::Lf, b'\n')
                | (Terminator::Any, b'\r' | b'\n') => true,
                (Terminator::Cr, b'\n') | (Terminator::Lf, b'\r') => continue,
                (Terminator::CrLf, b'\r') => {
                    self.after_cr = true;
                    continue;
                }
                (Terminator::CrLf, b'\n') if !after_cr => continue,
                (Terminator::CrLf, b'\n') => true,
                _ => false,
            };
            if ends_frame {
                out.extend(self.take());
            } else if let Some(len) = &mut self.overflow {
                *len += 1;
            } else if self.buf.len() == self.max_len {
                self.overflow = Some(self.buf.len() + 1);
                self.buf.clear();
            } else {
                self.buf.push(b);
            }
        }
    }

    /// Ends the unfinished frame, if any. The caller calls this when no byte arrived for the
    /// device's inactivity gap (scanners configured without a suffix). An over-long frame is
    /// reported as rejected here, just as it would be at its terminator.
    pub fn flush(&mut self) -> Option<Frame> {
        self.after_cr = false;
        self.take()
    }

    /// Length of the unfinished frame so far, including bytes of an over-long frame that were
    /// already discarded. Non-zero means [`LineFramer::flush`] would return a frame.
    pub fn pending(&self) -> usize {
        self.overflow.unwrap_or(self.buf.len())
    }

    fn take(&mut self) -> Option<Frame> {
        if let Some(len) = self.overflow.take() {
            return Some(Frame::Rejected(Rejection::TooLong { len }));
        }
        if self.buf.is_empty() {
            return None;
        }
        let line = Frame::Line(self.buf.clone());
        self.buf.clear();
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames as text: lines joined by `|`, rejections as `<N too long>`.
    fn render(frames: &[Frame]) -> String {
        let text = |f: &Frame| match f {
            Frame::Line(line) => String::from_utf8_lossy(line).into_owned(),
            Frame::Rejected(Rejection::TooLong { len }) => format!("<{len} too long>"),
        };
        frames.iter().map(text).collect::<Vec<_>>().join("|")
    }

    fn frames(terminator: Terminator, chunks: &[&[u8]]) -> String {
        let mut framer = LineFramer::new(terminator, 64);
        let mut out = Vec::new();
        for chunk in chunks {
            framer.push(chunk, &mut out);
        }
        render(&out)
    }

    #[test]
    fn split_at_every_byte_boundary() {
        let input = b"]C0ABC-123\r\n4006381333931\r\nS S     100.00 g\r\n";
        let want = "]C0ABC-123|4006381333931|S S     100.00 g";
        use Terminator::*;
        for terminator in [Any, CrLf, Cr, Lf] {
            for cut in 0..=input.len() {
                let (a, b) = input.split_at(cut);
                assert_eq!(frames(terminator, &[a, b]), want, "{terminator:?} at {cut}");
            }
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(frames(terminator, &bytes), want, "{terminator:?} by byte");
        }
    }

    #[test]
    fn terminator_variants() {
        let mixed: &[u8] = b"a\rb\nc\r\nd\n\re";
        assert_eq!(frames(Terminator::Any, &[mixed]), "a|b|c|d");
        // Under Cr and Lf the other byte is dropped, not kept as data.
        assert_eq!(frames(Terminator::Cr, &[mixed]), "a|bc|d");
        assert_eq!(frames(Terminator::Lf, &[mixed]), "ab|c|d");
        // Under CrLf a bare CR or LF is noise.
        assert_eq!(frames(Terminator::CrLf, &[mixed]), "abc");
        assert_eq!(frames(Terminator::CrLf, &[b"x\r\r\n"]), "x");
        // Blank lines are skipped.
        assert_eq!(frames(Terminator::Any, &[b"\r\n\r\n\n\rx\r\n\r\n"]), "x");
    }

    #[test]
    fn binary_noise_passes_through_as_bytes() {
        let noise = [0x00, 0xff, 0x1b, 0x80, 0x7f, b'\t'];
        let mut framer = LineFramer::new(Terminator::Any, 64);
        let mut out = Vec::new();
        framer.push(&[&noise[..], b"\r\nok\r\n"].concat(), &mut out);
        assert_eq!(
            out,
            [Frame::Line(noise.to_vec()), Frame::Line(b"ok".to_vec())]
        );
    }

    #[test]
    fn long_line_is_rejected_once_with_bounded_memory() {
        let max_len = 256;
        let mut framer = LineFramer::new(Terminator::Any, max_len);
        let mut out = Vec::new();
        for chunk in [b'7'; 10_000].chunks(100) {
            framer.push(chunk, &mut out);
            assert!(framer.buf.len() <= max_len);
            assert!(framer.buf.capacity() <= 2 * max_len);
        }
        assert!(out.is_empty());
        assert_eq!(framer.pending(), 10_000);
        framer.push(b"\r\nnext\r\n", &mut out);
        assert_eq!(render(&out), "<10000 too long>|next");

        // Exactly max_len is allowed; one more is not.
        let mut out = Vec::new();
        LineFramer::new(Terminator::Lf, 3).push(b"abc\nabcd\n", &mut out);
        assert_eq!(render(&out), "abc|<4 too long>");
    }

    #[test]
    fn flush_returns_the_partial_frame() {
        let mut framer = LineFramer::new(Terminator::CrLf, 4);
        let mut out = Vec::new();
        assert_eq!(framer.flush(), None);
        framer.push(b"ab\r\ncd", &mut out);
        assert_eq!(framer.pending(), 2);
        assert_eq!(framer.flush(), Some(Frame::Line(b"cd".to_vec())));
        assert_eq!(framer.pending(), 0);
        assert_eq!(framer.flush(), None);

        // A CR before the gap does not pair with an LF after it.
        framer.push(b"ef\r", &mut out);
        out.extend(framer.flush());
        framer.push(b"\ngh\r\n123456", &mut out);
        out.extend(framer.flush());
        assert_eq!(render(&out), "ab|ef|gh|<6 too long>");
        assert_eq!(framer.flush(), None);
    }
}
