//! `check-rdb`: walks a whole RDB file with the [`Reader`] and reports
//! what it holds, in the shape of `redis-check-rdb` (offset-tagged lines,
//! `--- RDB ERROR DETECTED ---` and the offset and reason of the first
//! problem), plus a summary of keys per database and per type.

use crate::{Item, RdbValue, Reader, Sanitize};
use std::collections::BTreeMap;
use std::io::{Read, Write};

/// What a walk found, whether or not the file was whole.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    pub version: u32,
    pub keys: u64,
    pub expires: u64,
    pub already_expired: u64,
    /// Keys per database, then per type name.
    pub per_db: BTreeMap<u64, BTreeMap<&'static str, u64>>,
    pub functions: u64,
    /// Keys holding an empty collection, which a server skips.
    pub empty_keys: u64,
}

fn type_name(v: &RdbValue) -> &'static str {
    match v {
        RdbValue::String(_) => "string",
        RdbValue::List(_) => "list",
        RdbValue::Set(_) => "set",
        RdbValue::ZSet(_) => "zset",
        RdbValue::Hash(_) => "hash",
        RdbValue::Stream(_) => "stream",
    }
}

/// Checks the RDB read from `input` (named `name` in the report), writing
/// the report to `out`. `now_ms` decides which expiries have passed.
/// Returns the summary and whether the file is sound.
pub fn check<R: Read, W: Write>(
    input: R,
    name: &str,
    now_ms: i64,
    out: &mut W,
) -> std::io::Result<(Summary, bool)> {
    check_with(input, name, now_ms, out, Sanitize::default())
}

/// [`check`] with values checked as `sanitize` says (a server explaining
/// why it could not load a file checks it as it loaded it).
pub fn check_with<R: Read, W: Write>(
    input: R,
    name: &str,
    now_ms: i64,
    out: &mut W,
    sanitize: Sanitize,
) -> std::io::Result<(Summary, bool)> {
    let mut s = Summary::default();
    writeln!(out, "[offset 0] Checking RDB file {name}")?;
    let mut r = match Reader::new(input) {
        Ok(r) => r.with_sanitize(sanitize),
        Err(e) => {
            report_error(out, e.offset, &e.kind.to_string(), &s)?;
            return Ok((s, false));
        }
    };
    s.version = r.version;
    writeln!(out, "[offset {}] RDB version {}", r.offset(), r.version)?;
    let mut db = 0;
    loop {
        match r.next_item() {
            Ok(None) => break,
            Ok(Some(item)) => match item {
                Item::Aux { key, value } => writeln!(
                    out,
                    "[offset {}] AUX FIELD {} = '{}'",
                    r.offset(),
                    String::from_utf8_lossy(&key),
                    String::from_utf8_lossy(&value)
                )?,
                Item::SelectDb(n) => {
                    db = n;
                    writeln!(out, "[offset {}] Selecting DB ID {n}", r.offset())?;
                }
                Item::ResizeDb { .. } | Item::ModuleAux { .. } => {}
                Item::Function(_) => s.functions += 1,
                Item::EmptyKey { key } => {
                    s.empty_keys += 1;
                    writeln!(
                        out,
                        "[offset {}] Empty key '{}' (skipped when loaded)",
                        r.offset(),
                        String::from_utf8_lossy(&key)
                    )?;
                }
                Item::Entry {
                    value, expire_ms, ..
                } => {
                    s.keys += 1;
                    if let Some(at) = expire_ms {
                        s.expires += 1;
                        if at < now_ms {
                            s.already_expired += 1;
                        }
                    }
                    *s.per_db
                        .entry(db)
                        .or_default()
                        .entry(type_name(&value))
                        .or_default() += 1;
                }
            },
            Err(e) => {
                report_error(out, e.offset, &e.kind.to_string(), &s)?;
                return Ok((s, false));
            }
        }
    }
    writeln!(out, "[offset {}] Checksum OK", r.offset())?;
    writeln!(out, "[offset {}] \\o/ RDB looks OK! \\o/", r.offset())?;
    info(out, &s)?;
    Ok((s, true))
}

fn report_error<W: Write>(out: &mut W, offset: u64, why: &str, s: &Summary) -> std::io::Result<()> {
    writeln!(out, "--- RDB ERROR DETECTED ---")?;
    writeln!(out, "[offset {offset}] {why}")?;
    info(out, s)
}

fn info<W: Write>(out: &mut W, s: &Summary) -> std::io::Result<()> {
    writeln!(out, "[info] {} keys read", s.keys)?;
    writeln!(out, "[info] {} expires", s.expires)?;
    writeln!(out, "[info] {} already expired", s.already_expired)?;
    if s.functions > 0 {
        writeln!(out, "[info] {} function libraries", s.functions)?;
    }
    if s.empty_keys > 0 {
        writeln!(out, "[info] {} empty keys", s.empty_keys)?;
    }
    for (db, types) in &s.per_db {
        let total: u64 = types.values().sum();
        let parts: Vec<String> = types.iter().map(|(t, n)| format!("{t}={n}")).collect();
        writeln!(out, "[info] db{db}: {total} keys ({})", parts.join(", "))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Writer;

    fn file() -> Vec<u8> {
        let mut w = Writer::new(Vec::new(), true, true).unwrap_or_else(|e| panic!("{e}"));
        (|| -> std::io::Result<()> {
            w.aux(b"redis-ver", b"7.0.15")?;
            w.select_db(0)?;
            w.put_string(b"a", b"1", Some(10))?;
            w.put_hash(b"h", 1, [(&b"f"[..], &b"v"[..])], None)?;
            w.select_db(3)?;
            w.put_list(b"l", [&b"x"[..]], Some(i64::MAX))
        })()
        .unwrap_or_else(|e| panic!("{e}"));
        w.finish().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_good_file_is_summarized() {
        let mut out = Vec::new();
        let (s, ok) =
            check(file().as_slice(), "f", 1000, &mut out).unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8_lossy(&out);
        assert!(ok, "{text}");
        assert_eq!((s.keys, s.expires, s.already_expired), (3, 2, 1));
        assert!(text.contains("RDB looks OK!"), "{text}");
        assert!(
            text.contains("[info] db0: 2 keys (hash=1, string=1)"),
            "{text}"
        );
        assert!(text.contains("[info] db3: 1 keys (list=1)"), "{text}");
    }

    #[test]
    fn a_truncated_file_names_the_offset() {
        let f = file();
        let cut = &f[..f.len() - 12];
        let mut out = Vec::new();
        let (_, ok) = check(cut, "f", 0, &mut out).unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8_lossy(&out);
        assert!(!ok);
        assert!(text.contains("--- RDB ERROR DETECTED ---"), "{text}");
        assert!(text.contains("unexpected end of file"), "{text}");
    }
}
