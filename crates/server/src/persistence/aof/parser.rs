//! Reading commands back from an AOF file.
//!
//! An AOF holds RESP arrays of bulk strings, one per command, and (with
//! `aof-timestamp-enabled`) annotation lines starting with `#`, such as
//! `#TS:1700000000`. The reader streams a file, hands back one command at
//! a time with its arguments in a reused buffer, and on failure tells a
//! file cut short (`Truncated`: the end came in the middle of a command,
//! which `aof-load-truncated` may forgive) from bytes that are simply
//! wrong (`Bad`), with the offset of the last whole command and of the
//! problem. Start-up loading and `check-aof` share it, so both judge a
//! file the same way.

use std::io::BufRead;

/// Longest header line (`*<argc>` or `$<len>`) or annotation accepted.
const MAX_LINE: usize = 64 * 1024;

/// What went wrong where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofError {
    /// The file ended in the middle of a command.
    pub truncated: bool,
    /// Offset where the incomplete or broken command starts: everything
    /// before it is whole.
    pub valid_up_to: u64,
    /// Offset of the problem itself.
    pub at: u64,
    /// Lines read when the problem was met, plus one (as redis-check-aof
    /// counts them).
    pub line: u64,
    pub reason: String,
    /// Where a command should start there is none (no `*`).
    pub not_a_command: bool,
}

/// One step of the reader.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// A command: its arguments are in [`CommandReader::args`].
    Command,
    /// An annotation line (without the leading `#` and the line end).
    Annotation(Vec<u8>),
    /// The end of the file, after a whole command.
    Eof,
}

/// Streams commands out of an AOF.
pub struct CommandReader<R> {
    r: R,
    offset: u64,
    lines: u64,
    /// Argument bytes of the last command, addressed by `ranges`.
    pub buf: Vec<u8>,
    pub ranges: Vec<(usize, usize)>,
    /// Offset of the last argument's bytes (where redis-check-aof points
    /// for a misplaced MULTI or EXEC).
    pub last_arg_at: u64,
    line: Vec<u8>,
}

impl<R: BufRead> CommandReader<R> {
    /// A reader whose first byte is at `offset` in the file (after an RDB
    /// preamble, say).
    pub fn new(r: R, offset: u64) -> CommandReader<R> {
        CommandReader {
            r,
            offset,
            lines: 0,
            buf: Vec::new(),
            ranges: Vec::new(),
            last_arg_at: offset,
            line: Vec::new(),
        }
    }

    /// Bytes consumed so far, as an offset in the file.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Lines read so far, plus one.
    pub fn line_no(&self) -> u64 {
        self.lines + 1
    }

    /// The arguments of the last command.
    pub fn args(&self) -> command_meta::Argv<'_> {
        command_meta::Argv::new(&self.buf, &self.ranges)
    }

    fn fail(&self, truncated: bool, start: u64, at: u64, reason: String) -> AofError {
        AofError {
            truncated,
            valid_up_to: start,
            at,
            line: self.lines + 1,
            reason,
            not_a_command: false,
        }
    }

    /// Reads one line into `self.line` (without its `\r\n`). Ok(false) at
    /// the end of the file before any byte.
    fn read_line(&mut self, start: u64) -> Result<bool, AofError> {
        self.line.clear();
        let at = self.offset;
        let n = std::io::Read::take(&mut self.r, MAX_LINE as u64)
            .read_until(b'\n', &mut self.line)
            .map_err(|e| self.fail(false, start, at, format!("Read error: {e}")))?;
        if n == 0 {
            return Ok(false);
        }
        self.offset += n as u64;
        if self.line.last() != Some(&b'\n') {
            if n >= MAX_LINE {
                return Err(self.fail(false, start, at, "Line too long".into()));
            }
            return Err(self.fail(true, start, at, "Premature end of file".into()));
        }
        self.line.pop();
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        Ok(true)
    }

    /// Parses a `<prefix><number>` header line.
    fn header(&mut self, prefix: u8, start: u64) -> Result<i64, AofError> {
        let at = self.offset;
        if !self.read_line(start)? {
            return Err(self.fail(true, start, at, "Premature end of file".into()));
        }
        match self.line.first() {
            Some(&c) if c == prefix => {}
            Some(&c) => {
                return Err(self.fail(
                    false,
                    start,
                    at,
                    format!(
                        "Expected prefix '{}', got: '{}'",
                        prefix as char,
                        c.escape_ascii()
                    ),
                ))
            }
            None => return Err(self.fail(false, start, at, "Empty line".into())),
        }
        match resp::parse_i64(&self.line[1..]) {
            // Counted once it parsed, as redis-check-aof counts lines.
            Some(n) if n >= 0 => {
                self.lines += 1;
                Ok(n)
            }
            _ => Err(self.fail(
                false,
                start,
                at,
                format!("Invalid number '{}'", self.line[1..].escape_ascii()),
            )),
        }
    }

    /// Reads the next command or annotation.
    pub fn next_step(&mut self) -> Result<Step, AofError> {
        let start = self.offset;
        let first = match self.r.fill_buf() {
            Ok(b) => b.first().copied(),
            Err(e) => return Err(self.fail(false, start, start, format!("Read error: {e}"))),
        };
        match first {
            None => return Ok(Step::Eof),
            Some(b'#') => {
                if !self.read_line(start)? {
                    return Ok(Step::Eof);
                }
                // redis-check-aof does not count annotation lines.
                return Ok(Step::Annotation(self.line[1..].to_vec()));
            }
            _ => {}
        }
        let argc = self.header(b'*', start).map_err(|mut e| {
            e.not_a_command = !e.truncated && e.reason.starts_with("Expected prefix");
            e
        })?;
        if argc < 1 {
            return Err(self.fail(false, start, start, "Invalid argument count".into()));
        }
        self.buf.clear();
        self.ranges.clear();
        for _ in 0..argc {
            let len = self.header(b'$', start)?;
            let at = self.offset;
            self.last_arg_at = at;
            let from = self.buf.len();
            // The length comes from the file: the buffer grows with the
            // bytes actually read, so a damaged length costs nothing.
            let want = len as u64 + 2;
            let got = read_bounded(&mut self.r, &mut self.buf, want)
                .map_err(|e| self.fail(false, start, at, format!("Read error: {e}")))?;
            self.offset += got;
            if got < want {
                return Err(self.fail(
                    true,
                    start,
                    at,
                    format!("Expected to read {want} bytes, got {got} bytes"),
                ));
            }
            let end = from + len as usize;
            if &self.buf[end..end + 2] != b"\r\n" {
                // Reported at the argument's start, as redis-check-aof.
                return Err(self.fail(
                    false,
                    start,
                    at,
                    format!(
                        "Expected \\r\\n, got: {:02x}{:02x}",
                        self.buf[end],
                        self.buf[end + 1]
                    ),
                ));
            }
            self.lines += 1;
            self.buf.truncate(end);
            self.ranges.push((from, end));
        }
        Ok(Step::Command)
    }
}

/// First allocation for an argument's bytes; later ones double it.
const FIRST_CHUNK: usize = 64 * 1024;

/// Appends up to `n` bytes of `r` to `buf` (fewer at the end of the
/// input) and returns how many. The buffer grows geometrically as bytes
/// arrive and never past `n`, so its size follows what the input holds,
/// not what a length field claims.
fn read_bounded<R: std::io::Read>(r: &mut R, buf: &mut Vec<u8>, n: u64) -> std::io::Result<u64> {
    use std::io::Read;
    let mut left = n;
    while left > 0 {
        if buf.capacity() == buf.len() {
            let step = (buf.capacity().max(FIRST_CHUNK) as u64).min(left) as usize;
            buf.try_reserve_exact(step).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::OutOfMemory, "out of memory")
            })?;
        }
        let room = (buf.capacity() - buf.len()) as u64;
        let got = r.by_ref().take(room.min(left)).read_to_end(buf)? as u64;
        if got == 0 {
            break;
        }
        left -= got;
    }
    Ok(n - left)
}

/// Whether a file starts with an RDB preamble (`REDIS` magic).
pub fn has_rdb_preamble(path: &std::path::Path) -> std::io::Result<bool> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut magic = [0u8; 5];
    let mut got = 0;
    while got < 5 {
        match f.read(&mut magic[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got == 5 && &magic == b"REDIS")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(bytes: &[u8]) -> (Vec<Vec<String>>, Option<AofError>) {
        let mut r = CommandReader::new(bytes, 0);
        let mut cmds = Vec::new();
        loop {
            match r.next_step() {
                Ok(Step::Command) => cmds.push(
                    r.args()
                        .iter()
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect(),
                ),
                Ok(Step::Annotation(a)) => {
                    cmds.push(vec![format!("#{}", String::from_utf8_lossy(&a))])
                }
                Ok(Step::Eof) => return (cmds, None),
                Err(e) => return (cmds, Some(e)),
            }
        }
    }

    const SELECT: &[u8] = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n";

    #[test]
    fn reads_commands_and_annotations() {
        let mut f = b"#TS:1700000000\r\n".to_vec();
        f.extend_from_slice(SELECT);
        f.extend_from_slice(b"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$0\r\n\r\n");
        let (cmds, err) = all(&f);
        assert_eq!(err, None);
        assert_eq!(
            cmds,
            vec![
                vec!["#TS:1700000000".to_string()],
                vec!["SELECT".into(), "0".into()],
                vec!["set".into(), "k".into(), "".into()]
            ]
        );
    }

    #[test]
    fn binary_arguments_with_line_ends_inside() {
        let f = b"*2\r\n$3\r\nGET\r\n$4\r\n\r\n\n\r\r\n";
        let (cmds, err) = all(f);
        assert_eq!(err, None);
        assert_eq!(cmds[0][1], "\r\n\n\r");
    }

    #[test]
    fn a_cut_tail_is_truncation_at_the_last_whole_command() {
        let mut f = SELECT.to_vec();
        let whole = f.len() as u64;
        f.extend_from_slice(b"*3\r\n$3\r\nset\r\n$1\r\nq\r\n$5\r\nab");
        let (cmds, err) = all(&f);
        assert_eq!(cmds.len(), 1);
        let e = err.unwrap();
        assert!(e.truncated, "{e:?}");
        assert_eq!(e.valid_up_to, whole);
        assert_eq!(e.reason, "Expected to read 7 bytes, got 2 bytes");
        // Cut inside a header line, and right after the array header.
        for cut in [whole as usize + 2, whole as usize + 4, whole as usize + 9] {
            let (_, err) = all(&f[..cut]);
            let e = err.unwrap();
            assert!(e.truncated, "cut at {cut}: {e:?}");
            assert_eq!(e.valid_up_to, whole);
        }
    }

    #[test]
    fn garbage_is_a_bad_format_with_its_offset() {
        // What redis-check-aof reports for the same bytes: offset 0x14,
        // "Expected \r\n, got: 780d", line 5.
        let mut f = SELECT[..20].to_vec();
        f.extend_from_slice(b"xx\r\n");
        f.extend_from_slice(&SELECT[20..]);
        let (_, err) = all(&f);
        let e = err.unwrap();
        assert!(!e.truncated);
        assert_eq!((e.valid_up_to, e.at, e.line), (0, 20, 5));
        assert_eq!(e.reason, "Expected \\r\\n, got: 780d");
        let (_, err) = all(b"hello\r\n");
        let e = err.unwrap();
        assert!(!e.truncated);
        assert_eq!(e.reason, "Expected prefix '*', got: 'h'");
        let (_, err) = all(b"*1\r\n$x\r\n");
        assert!(!err.unwrap().truncated);
        let (_, err) = all(b"*0\r\n");
        assert!(!err.unwrap().truncated);
    }

    #[test]
    fn a_huge_length_allocates_only_what_the_file_holds() {
        let mut f = b"*2\r\n$3\r\nSET\r\n$9223372036854775805\r\n".to_vec();
        f.extend_from_slice(&[b'x'; 1000]);
        let mut r = CommandReader::new(&f[..], 0);
        let e = r.next_step().unwrap_err();
        assert!(e.truncated, "{e:?}");
        assert_eq!(
            e.reason,
            "Expected to read 9223372036854775807 bytes, got 1000 bytes"
        );
        assert!(r.buf.capacity() <= 2 * FIRST_CHUNK, "{}", r.buf.capacity());
        // A big argument that is there is read whole.
        let big = vec![b'v'; 5 * FIRST_CHUNK + 7];
        let mut f = format!("*2\r\n$3\r\nGET\r\n${}\r\n", big.len()).into_bytes();
        f.extend_from_slice(&big);
        f.extend_from_slice(b"\r\n");
        let mut r = CommandReader::new(&f[..], 0);
        assert_eq!(r.next_step(), Ok(Step::Command));
        assert_eq!(r.args().get(1), &big[..]);
        assert!(r.buf.capacity() < 2 * (big.len() + 3));
    }

    #[test]
    fn line_count_matches_redis_check_aof() {
        let mut f = SELECT.to_vec();
        f.extend_from_slice(b"*3\r\n$3\r\nset\r\n$2\r\nzz\r\n$1\r\n1\r\n");
        let mut r = CommandReader::new(&f[..], 0);
        while r.next_step() == Ok(Step::Command) {}
        assert_eq!(r.line_no(), 13);
        assert_eq!(r.offset(), 51);
    }
}
