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

/// Why a manifest could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// 1-based line number, 0 when not about one line.
    pub line: usize,
    pub text: String,
    pub reason: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.reason)
        } else {
            write!(
                f,
                "Invalid AOF manifest file format at line {}: '{}': {}",
                self.line, self.text, self.reason
            )
        }
    }
}

/// Longest manifest line Redis accepts.
const MAX_LINE: usize = 1024;

impl Manifest {
    /// Parses manifest text.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let mut m = Manifest::default();
        let mut lines = 0;
        for (n, raw) in text.split_inclusive('\n').enumerate() {
            let line_no = n + 1;
            let bad = |reason: &str| ManifestError {
                line: line_no,
                text: raw.trim_end().to_string(),
                reason: reason.to_string(),
            };
            if raw.len() > MAX_LINE {
                return Err(bad("line too long"));
            }
            // Redis requires every line to end with a newline; a last line
            // without one is a file cut short.
            if !raw.ends_with('\n') {
                return Err(bad("the last line is not terminated by a newline"));
            }
            let line = raw.trim();
            if line.starts_with('#') {
                continue;
            }
            if line.is_empty() {
                return Err(bad("empty line"));
            }
            let words: Vec<String> = resp::split_args::split_args_owned(line.as_bytes())
                .map_err(|_| bad("unbalanced quotes"))?
                .into_iter()
                .map(|w| String::from_utf8_lossy(&w).into_owned())
                .collect();
            if !words.len().is_multiple_of(2) {
                return Err(bad("the keys and values do not pair up"));
            }
            let (mut name, mut seq, mut kind) = (None, None, None);
            for kv in words.chunks(2) {
                match kv[0].as_str() {
                    "file" => name = Some(kv[1].clone()),
                    "seq" => seq = kv[1].parse::<i64>().ok().filter(|s| *s > 0),
                    "type" => {
                        kind = match kv[1].as_str() {
                            "b" => Some(FileType::Base),
                            "h" => Some(FileType::History),
                            "i" => Some(FileType::Incr),
                            _ => return Err(bad("unknown file type")),
                        }
                    }
                    // Unknown keys are skipped, for files written by later
                    // versions.
                    _ => {}
                }
            }
            let (Some(name), Some(seq), Some(kind)) = (name, seq, kind) else {
                return Err(bad("a line needs 'file', a positive 'seq' and 'type'"));
            };
            if name.contains('/') {
                return Err(bad("file names must not contain a path"));
            }
            let f = AofFile { name, seq, kind };
            match kind {
                FileType::Base => {
                    if m.base.is_some() {
                        return Err(bad("more than one base file"));
                    }
                    m.base_seq = seq;
                    m.base = Some(f);
                }
                FileType::History => m.history.push(f),
                FileType::Incr => {
                    if seq <= m.incr_seq {
                        return Err(bad("incremental files out of sequence order"));
                    }
                    m.incr_seq = seq;
                    m.incrs.push(f);
                }
            }
            lines += 1;
        }
        if lines == 0 {
            return Err(ManifestError {
                line: 0,
                text: String::new(),
                reason: "Found an empty AOF manifest".into(),
            });
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

    /// Adds a new incremental file named after `filename`; returns its name.
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

    /// The name the next base file takes (`rdb` for an RDB preamble).
    pub fn next_base_name(&self, filename: &str, rdb: bool) -> (String, i64) {
        let seq = self.base_seq + 1;
        let ext = if rdb { "rdb" } else { "aof" };
        (format!("{filename}.{seq}.base.{ext}"), seq)
    }

    /// Installs `base` as the new base: the old base and every incremental
    /// file except those in `keep` become history.
    pub fn install_base(&mut self, base: String, seq: i64, keep: &[String]) {
        if let Some(mut old) = self.base.take() {
            old.kind = FileType::History;
            self.history.push(old);
        }
        let incrs = std::mem::take(&mut self.incrs);
        for mut f in incrs {
            if keep.contains(&f.name) {
                self.incrs.push(f);
            } else {
                f.kind = FileType::History;
                self.history.push(f);
            }
        }
        self.base_seq = seq;
        self.base = Some(AofFile {
            name: base,
            seq,
            kind: FileType::Base,
        });
    }
}

/// A file name as Redis writes it: bare unless it needs quoting.
fn quote(name: &str) -> String {
    if name
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\')
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
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.base.as_ref().unwrap().name, "appendonly.aof.3.base.rdb");
        assert_eq!(m.history.len(), 1);
        assert_eq!(m.incrs.len(), 2);
        assert_eq!((m.base_seq, m.incr_seq), (3, 4));
        assert_eq!(m.render(), text);
        let order: Vec<_> = m.load_order().map(|f| f.seq).collect();
        assert_eq!(order, vec![3, 3, 4]);
    }

    #[test]
    fn keys_in_any_order_comments_and_quoted_names() {
        let text = "# written by hand\ntype i seq 1 file \"my file.aof\"\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.incrs[0].name, "my file.aof");
        assert!(m.base.is_none());
        assert_eq!(m.render(), "file \"my file.aof\" seq 1 type i\n");
    }

    #[test]
    fn broken_manifests_are_refused_with_the_line() {
        let cases = [
            ("", 0),
            ("file x seq\n", 1),
            ("file x seq 1 type b\nbla bla\n", 2),
            ("file x seq 1 type z\n", 1),
            ("file x seq 1 type b\nfile y seq 2 type b\n", 2),
            ("file x seq 1 type i", 1),
            ("file x seq 0 type i\n", 1),
            ("file x seq -1 type i\n", 1),
            ("file ../x seq 1 type i\n", 1),
            ("file x seq 2 type i\nfile y seq 1 type i\n", 2),
            ("\n", 1),
            ("file \"x seq 1 type i\n", 1),
        ];
        for (text, line) in cases {
            let e = Manifest::parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
        }
    }

    #[test]
    fn a_rewrite_turns_old_files_into_history() {
        let mut m = Manifest::default();
        m.install_base("a.1.base.rdb".into(), 1, &[]);
        let first = m.new_incr("a");
        assert_eq!(first, "a.1.incr.aof");
        let second = m.new_incr("a");
        let (base, seq) = m.next_base_name("a", true);
        assert_eq!(base, "a.2.base.rdb");
        m.install_base(base, seq, std::slice::from_ref(&second));
        assert_eq!(
            m.render(),
            "file a.2.base.rdb seq 2 type b\n\
             file a.1.base.rdb seq 1 type h\n\
             file a.1.incr.aof seq 1 type h\n\
             file a.2.incr.aof seq 2 type i\n"
        );
    }

    #[test]
    fn persist_replaces_the_file_atomically() {
        let dir = std::env::temp_dir().join(format!("aof-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut m = Manifest::default();
        m.install_base("x.1.base.rdb".into(), 1, &[]);
        persist(&dir, "x.manifest", &m).unwrap();
        let back = std::fs::read_to_string(dir.join("x.manifest")).unwrap();
        assert_eq!(Manifest::parse(&back).unwrap(), m);
        assert!(!dir.join("temp-x.manifest").exists());
        let _ = std::fs::remove_dir_all(dir);
    }
}
