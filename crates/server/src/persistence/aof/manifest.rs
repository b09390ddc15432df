//! The AOF manifest: which files make up the append-only file.
//!
//! Redis 7.0 keeps the AOF as several files in `appenddirname`, listed in
//! `<appendfilename>.manifest`, one line each:
//!
//! ```text
//! file appendonly.aof.3.base.rdb seq 3 type b
//! file appendonly.aof.2.incr.aof seq 2 type h
//! file appendonly.aof.3.incr.aof seq 3 type i
//! ```
//!
//! `b` is the base (a snapshot, RDB or AOF format), `i` the incremental
//! files replayed after it in order, `h` history files a rewrite replaced
//! and that are deleted once the new manifest is durable. Keys may come in
//! any order; lines starting with `#` are comments. We write the lines in
//! the order Redis writes them (base, history, incrementals), so the two
//! servers can take over each other's directory.

use std::fmt;
use std::io::Write;
use std::path::Path;

/// What a file is to the AOF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Base,
    History,
    Incr,
}

impl FileType {
    fn mark(self) -> char {
        match self {
            FileType::Base => 'b',
            FileType::History => 'h',
            FileType::Incr => 'i',
        }
    }
}

/// One line of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofFile {
    pub name: String,
    pub seq: i64,
    pub kind: FileType,
}

/// The manifest as held in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<AofFile>,
    pub incrs: Vec<AofFile>,
    pub history: Vec<AofFile>,
    /// Highest sequence numbers used so far (new files take the next).
    pub base_seq: i64,
    pub incr_seq: i64,
}

/// Why a manifest could not be read. Redis stops start-up with these
/// texts (the test suite and operators' scripts grep for them), so they
/// are Redis's, word for word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// The 1-based line and its text (trimmed), when the error is about
    /// one line Redis could read whole.
    pub line: Option<(usize, String)>,
    pub reason: &'static str,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.line {
            Some((n, text)) => write!(f, "{} at line {n}: '{text}'", self.reason),
            None => write!(f, "{}", self.reason),
        }
    }
}

impl ManifestError {
    /// The messages Redis logs before it exits on a bad manifest, one
    /// log line each (with the same embedded line ends).
    pub fn report(&self) -> Vec<String> {
        let mut v = vec!["\n*** FATAL AOF MANIFEST FILE ERROR ***\n".to_string()];
        if let Some((n, text)) = &self.line {
            v.push(format!("Reading the manifest file, at line {n}\n"));
            v.push(format!(">>> '{text}'\n"));
        }
        v.push(format!("{}\n", self.reason));
        v
    }
}

/// Longest manifest line Redis reads at once (one `fgets` of 1024 bytes);
/// a line that does not end within it is refused.
const MAX_LINE: usize = 1024;

const INVALID: &str = "Invalid AOF manifest file format";

/// The number at the start of `s`, as C's `atoll` reads it (0 when there
/// is none): Redis takes `seq` this way.
fn atoll(s: &[u8]) -> i64 {
    let mut i = 0;
    while i < s.len() && (s[i] == b' ' || (b'\t'..=b'\r').contains(&s[i])) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut n: i64 = 0;
    while let Some(d) = s.get(i).filter(|c| c.is_ascii_digit()) {
        n = n.wrapping_mul(10).wrapping_add((d - b'0') as i64);
        i += 1;
    }
    if neg {
        n.wrapping_neg()
    } else {
        n
    }
}

impl Manifest {
    /// Parses manifest bytes with Redis 7.0's rules: lines are read 1024
    /// bytes at a time, `#` lines are comments, every other line needs
    /// `file`, a non-zero `seq` and `type` (keys in any case and order,
    /// unknown keys ignored, at least three pairs), one base at most, and
    /// incremental files in increasing `seq` order.
    pub fn parse(text: &[u8]) -> Result<Manifest, ManifestError> {
        let mut m = Manifest::default();
        let mut rest = text;
        let mut line_no = 0;
        let mut max_incr_seq = 0;
        loop {
            if rest.is_empty() {
                if line_no == 0 {
                    return Err(ManifestError {
                        line: None,
                        reason: "Found an empty AOF manifest",
                    });
                }
                break;
            }
            // One fgets: up to the line end or MAX_LINE bytes.
            let take = match rest.iter().take(MAX_LINE).position(|&c| c == b'\n') {
                Some(i) => i + 1,
                None => rest.len().min(MAX_LINE),
            };
            let (chunk, next) = rest.split_at(take);
            rest = next;
            line_no += 1;
            if chunk.first() == Some(&b'#') {
                continue;
            }
            if !chunk.contains(&b'\n') {
                return Err(ManifestError {
                    line: None,
                    reason: "The AOF manifest file contains too long line",
                });
            }
            let line = trim(chunk);
            let bad = |reason: &'static str| ManifestError {
                line: Some((line_no, String::from_utf8_lossy(line).into_owned())),
                reason,
            };
            if line.is_empty() {
                return Err(bad(INVALID));
            }
            let words = resp::split_args::split_args_owned(line).map_err(|_| bad(INVALID))?;
            // At least three pairs; more are allowed for later versions.
            if words.len() < 6 || words.len() % 2 != 0 {
                return Err(bad(INVALID));
            }
            let (mut name, mut seq, mut kind) = (None, 0, 0u8);
            for kv in words.chunks(2) {
                let (k, v) = (&kv[0], &kv[1]);
                if k.eq_ignore_ascii_case(b"file") {
                    if v.contains(&b'/') || v.contains(&b'\\') {
                        return Err(bad("File can't be a path, just a filename"));
                    }
                    name = Some(String::from_utf8_lossy(v).into_owned());
                } else if k.eq_ignore_ascii_case(b"seq") {
                    seq = atoll(v);
                } else if k.eq_ignore_ascii_case(b"type") {
                    // Redis reads the first character only.
                    kind = v.first().copied().unwrap_or(0);
                }
            }
            let Some(name) = name.filter(|_| seq != 0 && kind != 0) else {
                return Err(bad(INVALID));
            };
            match kind {
                b'b' => {
                    if m.base.is_some() {
                        return Err(bad("Found duplicate base file information"));
                    }
                    m.base_seq = seq;
                    m.base = Some(AofFile {
                        name,
                        seq,
                        kind: FileType::Base,
                    });
                }
                b'h' => m.history.push(AofFile {
                    name,
                    seq,
                    kind: FileType::History,
                }),
                b'i' => {
                    if seq <= max_incr_seq {
                        return Err(bad("Found a non-monotonic sequence number"));
                    }
                    max_incr_seq = seq;
                    m.incr_seq = seq;
                    m.incrs.push(AofFile {
                        name,
                        seq,
                        kind: FileType::Incr,
                    });
                }
                _ => return Err(bad("Unknown AOF file type")),
            }
        }
        Ok(m)
    }

    /// The manifest text, in Redis's line order.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let mut line = |f: &AofFile| {
            s.push_str(&format!(
                "file {} seq {} type {}\n",
                quote(&f.name),
                f.seq,
                f.kind.mark()
            ));
        };
        if let Some(b) = &self.base {
            line(b);
        }
        for f in &self.history {
            line(f);
        }
        for f in &self.incrs {
            line(f);
        }
        s
    }

    /// Every file a load replays, in order: the base, then the
    /// incrementals.
    pub fn load_order(&self) -> impl Iterator<Item = &AofFile> {
        self.base.iter().chain(self.incrs.iter())
    }

    /// Adds a new incremental file named after `filename` (the next
    /// incremental sequence number); returns its name.
    pub fn new_incr(&mut self, filename: &str) -> String {
        self.incr_seq += 1;
        let name = format!("{filename}.{}.incr.aof", self.incr_seq);
        self.incrs.push(AofFile {
            name: name.clone(),
            seq: self.incr_seq,
            kind: FileType::Incr,
        });
        name
    }

    /// The last incremental file, or a new one when there is none (what
    /// start-up continues writing).
    pub fn last_or_new_incr(&mut self, filename: &str) -> String {
        match self.incrs.last() {
            Some(f) => f.name.clone(),
            None => self.new_incr(filename),
        }
    }

    /// Names the next base file (`rdb` for an RDB base) and makes it the
    /// base; the previous base becomes history. Redis keeps the history
    /// newest first, and writes it so.
    pub fn new_base(&mut self, filename: &str, rdb: bool) -> String {
        if let Some(mut old) = self.base.take() {
            old.kind = FileType::History;
            self.history.insert(0, old);
        }
        self.base_seq += 1;
        let ext = if rdb { "rdb" } else { "aof" };
        let name = format!("{filename}.{}.base.{ext}", self.base_seq);
        self.base = Some(AofFile {
            name: name.clone(),
            seq: self.base_seq,
            kind: FileType::Base,
        });
        name
    }

    /// After a rewrite: the incremental files the new base covers become
    /// history — all of them, or all but the last one when the AOF is on
    /// and still writing it.
    pub fn mark_rewritten_incrs_as_history(&mut self, keep_last: bool) {
        let kept = if keep_last { self.incrs.pop() } else { None };
        // Redis moves them to the head of the history one by one from the
        // newest, which leaves them oldest first, above the older history.
        let mut moved = std::mem::take(&mut self.incrs);
        for f in &mut moved {
            f.kind = FileType::History;
        }
        moved.append(&mut self.history);
        self.history = moved;
        self.incrs.extend(kept);
    }
}

/// The name of the incremental file that collects writes while the AOF
/// is being turned on (until its first rewrite succeeds and the file is
/// renamed to a numbered incremental file).
pub fn temp_incr_name(filename: &str) -> String {
    format!("temp-{filename}.incr")
}

/// Redis's `trim(" \t\r\n")` of a manifest line.
fn trim(line: &[u8]) -> &[u8] {
    let ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let start = line.iter().position(|c| !ws(c)).unwrap_or(line.len());
    let end = line.iter().rposition(|c| !ws(c)).map_or(start, |i| i + 1);
    &line[start..end]
}

/// A file name as Redis writes it: bare unless it has a byte Redis
/// quotes (space, quote, backslash, anything not printable ASCII).
fn quote(name: &str) -> String {
    // (An empty name, which Redis never writes, is quoted too, so that
    // the line still parses.)
    if !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
    {
        name.to_string()
    } else {
        crate::config::parse::repr(name.as_bytes())
    }
}

/// Writes `m` as `dir/name` atomically: a temporary file, fsync, rename
/// over the old manifest, fsync of the directory. A crash leaves either
/// the old or the new manifest, never a mix.
pub fn persist(dir: &Path, name: &str, m: &Manifest) -> std::io::Result<()> {
    let tmp = dir.join(format!("temp-{name}"));
    let path = dir.join(name);
    let r = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(m.render().as_bytes())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_redis_writes_and_renders_it_back() {
        let text = "file appendonly.aof.3.base.rdb seq 3 type b\n\
                    file appendonly.aof.2.incr.aof seq 2 type h\n\
                    file appendonly.aof.3.incr.aof seq 3 type i\n\
                    file appendonly.aof.4.incr.aof seq 4 type i\n";
        let m = Manifest::parse(text.as_bytes()).unwrap();
        assert_eq!(m.base.as_ref().unwrap().name, "appendonly.aof.3.base.rdb");
        assert_eq!(m.history.len(), 1);
        assert_eq!(m.incrs.len(), 2);
        assert_eq!((m.base_seq, m.incr_seq), (3, 4));
        assert_eq!(m.render(), text);
        let order: Vec<_> = m.load_order().map(|f| f.seq).collect();
        assert_eq!(order, vec![3, 3, 4]);
    }

    #[test]
    fn keys_in_any_order_and_case_comments_extra_keys_and_quoted_names() {
        let text = "# written by hand\nTYPE i seq 1 file \"my file.aof\" newkey v\n";
        let m = Manifest::parse(text.as_bytes()).unwrap();
        assert_eq!(m.incrs[0].name, "my file.aof");
        assert!(m.base.is_none());
        assert_eq!(m.render(), "file \"my file.aof\" seq 1 type i\n");
        // Only the first character of the type counts, as in Redis.
        let m = Manifest::parse(b"file x seq 2 type base\n").unwrap();
        assert_eq!(m.base.unwrap().seq, 2);
        // A quote is printable: Redis writes it bare.
        let mut m = Manifest::default();
        m.new_incr("it's");
        assert_eq!(m.render(), "file it's.1.incr.aof seq 1 type i\n");
    }

    #[test]
    fn broken_manifests_are_refused_with_redis_s_reason() {
        let long = format!("file {} seq 1 type b\n", "x".repeat(1100));
        let cases: &[(&str, Option<usize>, &str)] = &[
            ("", None, "Found an empty AOF manifest"),
            ("file x seq\n", Some(1), INVALID),
            ("file x seq 1 type b\nbla bla\n", Some(2), INVALID),
            ("file x seq 1 type z\n", Some(1), "Unknown AOF file type"),
            (
                "file x seq 1 type b\nfile y seq 2 type b\n",
                Some(2),
                "Found duplicate base file information",
            ),
            (
                "file x seq 1 type i",
                None,
                "The AOF manifest file contains too long line",
            ),
            (&long, None, "The AOF manifest file contains too long line"),
            ("file x seq 0 type i\n", Some(1), INVALID),
            ("file x seq abc type i\n", Some(1), INVALID),
            (
                "file x seq -1 type i\n",
                Some(1),
                "Found a non-monotonic sequence number",
            ),
            (
                "file ../x seq 1 type i\n",
                Some(1),
                "File can't be a path, just a filename",
            ),
            (
                "file x seq 2 type i\nfile y seq 1 type i\n",
                Some(2),
                "Found a non-monotonic sequence number",
            ),
            ("file x seq 1 type i\n\n", Some(2), INVALID),
            ("file \"x seq 1 type i\n", Some(1), INVALID),
            ("file x seq 1 type i newkey\n", Some(1), INVALID),
            ("file x type i\n", Some(1), INVALID),
        ];
        for (text, line, reason) in cases {
            let e = Manifest::parse(text.as_bytes()).unwrap_err();
            assert_eq!(e.line.as_ref().map(|l| l.0), *line, "{text:?}: {e}");
            assert_eq!(e.reason, *reason, "{text:?}");
        }
        // Only comments: a valid, empty manifest.
        assert_eq!(
            Manifest::parse(b"# nothing\n").unwrap(),
            Manifest::default()
        );
    }

    #[test]
    fn the_report_has_redis_s_lines() {
        let e = Manifest::parse(b"file x seq 1 type b\n\n").unwrap_err();
        assert_eq!(
            e.report(),
            vec![
                "\n*** FATAL AOF MANIFEST FILE ERROR ***\n",
                "Reading the manifest file, at line 2\n",
                ">>> ''\n",
                "Invalid AOF manifest file format\n"
            ]
        );
    }

    #[test]
    fn a_rewrite_turns_old_files_into_history_newest_first() {
        let mut m = Manifest::default();
        m.new_base("a", true);
        m.new_incr("a");
        // Two rewrites, each opening an incremental file at its start.
        for _ in 0..2 {
            m.new_incr("a");
            let base = m.new_base("a", true);
            assert!(base.ends_with(".base.rdb"));
            m.mark_rewritten_incrs_as_history(true);
        }
        assert_eq!(
            m.render(),
            "file a.3.base.rdb seq 3 type b\n\
             file a.2.incr.aof seq 2 type h\n\
             file a.2.base.rdb seq 2 type h\n\
             file a.1.incr.aof seq 1 type h\n\
             file a.1.base.rdb seq 1 type h\n\
             file a.3.incr.aof seq 3 type i\n"
        );
        // Failed rewrites left several incrementals: all but the current
        // one become history, oldest first.
        let mut m = Manifest::parse(
            b"file a.2.base.rdb seq 2 type b\n\
              file a.2.incr.aof seq 2 type i\n\
              file a.3.incr.aof seq 3 type i\n\
              file a.4.incr.aof seq 4 type i\n",
        )
        .unwrap();
        m.new_base("a", true);
        m.mark_rewritten_incrs_as_history(true);
        assert_eq!(
            m.render(),
            "file a.3.base.rdb seq 3 type b\n\
             file a.2.incr.aof seq 2 type h\n\
             file a.3.incr.aof seq 3 type h\n\
             file a.2.base.rdb seq 2 type h\n\
             file a.4.incr.aof seq 4 type i\n"
        );
        // With the AOF off, no incremental file stays.
        m.new_base("a", false);
        m.mark_rewritten_incrs_as_history(false);
        assert!(m.incrs.is_empty());
        assert_eq!(m.base.unwrap().name, "a.4.base.aof");
    }

    #[test]
    fn persist_replaces_the_file_atomically() {
        let dir = std::env::temp_dir().join(format!("aof-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut m = Manifest::default();
        m.new_base("x", true);
        persist(&dir, "x.manifest", &m).unwrap();
        let back = std::fs::read(dir.join("x.manifest")).unwrap();
        assert_eq!(Manifest::parse(&back).unwrap(), m);
        assert!(!dir.join("temp-x.manifest").exists());
        let _ = std::fs::remove_dir_all(dir);
    }
}
