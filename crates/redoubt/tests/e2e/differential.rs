//! The differential test: every corpus file in `tests/corpus/` is sent to a
//! real redis-server 7.0 and to Redoubt, one command per line, and the
//! replies are compared byte for byte.
//!
//! Corpus syntax (one command per line, quoted as redis-cli/inline does):
//! - `# ...` and blank lines are ignored;
//! - `%sorted CMD` compares an array reply with its elements sorted (for
//!   replies whose order is unspecified: KEYS, SCAN batches);
//! - `%type CMD` compares only the reply's RESP type (TIME, RANDOMKEY);
//! - `%ignore CMD` runs the command on both and compares nothing;
//! - `%shape CMD` compares the reply with every integer's value blanked
//!   (fields that read the clock, such as stream delivery times and idle
//!   times: their presence and place are compared, not their value).
//!
//! Each file starts on fresh connections after `FLUSHALL`, so files are
//! independent. All mismatches are reported together, with file and line.

use crate::harness::{Flavor, Raw, ServerHandle};
use resp::Frame;
use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Exact,
    Sorted,
    Type,
    Ignore,
    Shape,
}

/// The reply with each RESP integer's digits replaced by `#`, walking
/// the frames so that bulk contents are left alone.
fn shape_bytes(reply: &[u8]) -> Vec<u8> {
    fn walk(b: &[u8], at: &mut usize, out: &mut Vec<u8>) {
        let Some(end) = b[*at..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|p| *at + p)
        else {
            out.extend_from_slice(&b[*at..]);
            *at = b.len();
            return;
        };
        let line = &b[*at..end];
        *at = end + 2;
        let n: i64 = std::str::from_utf8(&line[1..])
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(-1);
        match line.first() {
            Some(b':') => out.extend_from_slice(b":#\r\n"),
            Some(b'$') | Some(b'=') if n >= 0 => {
                let stop = (*at + n as usize + 2).min(b.len());
                out.extend_from_slice(line);
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(&b[*at..stop]);
                *at = stop;
            }
            Some(b'*') | Some(b'~') | Some(b'>') | Some(b'%') if n > 0 => {
                out.extend_from_slice(line);
                out.extend_from_slice(b"\r\n");
                let items = if line[0] == b'%' { 2 * n } else { n };
                for _ in 0..items {
                    walk(b, at, out);
                }
            }
            _ => {
                out.extend_from_slice(line);
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    let mut out = Vec::with_capacity(reply.len());
    let mut at = 0;
    while at < reply.len() {
        walk(reply, &mut at, &mut out);
    }
    out
}

fn sorted_bytes(reply: &[u8]) -> Vec<u8> {
    match resp::parse_frame(reply) {
        Ok(Some((Frame::Array(items), _))) | Ok(Some((Frame::Set(items), _))) => {
            let mut v: Vec<String> = items.iter().map(|f| format!("{f:?}")).collect();
            v.sort();
            v.join("\n").into_bytes()
        }
        _ => reply.to_vec(),
    }
}

fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let s = s.replace('\r', "\\r").replace('\n', "\\n");
    if s.len() > 300 {
        format!("{}...", &s[..300])
    } else {
        s
    }
}

/// Runs one corpus text against both servers; returns mismatch reports.
pub fn run_corpus(
    name: &str,
    text: &str,
    redis: &ServerHandle,
    ours: &ServerHandle,
) -> Vec<String> {
    let mut a = redis.raw();
    let mut b = ours.raw();
    a.cmd(&[b"FLUSHALL"]);
    b.cmd(&[b"FLUSHALL"]);
    let mut failures = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (mode, rest) = if let Some(r) = line.strip_prefix("%sorted ") {
            (Mode::Sorted, r)
        } else if let Some(r) = line.strip_prefix("%type ") {
            (Mode::Type, r)
        } else if let Some(r) = line.strip_prefix("%ignore ") {
            (Mode::Ignore, r)
        } else if let Some(r) = line.strip_prefix("%shape ") {
            (Mode::Shape, r)
        } else {
            (Mode::Exact, line)
        };
        let args = match resp::split_args::split_args_owned(rest.as_bytes()) {
            Ok(a) => a,
            Err(_) => {
                failures.push(format!(
                    "{name}:{}: unbalanced quotes in corpus line",
                    no + 1
                ));
                continue;
            }
        };
        let refs: Vec<&[u8]> = args.iter().map(|v| v.as_slice()).collect();
        let ra = exchange(&mut a, &refs);
        let rb = exchange(&mut b, &refs);
        let same = match mode {
            Mode::Exact => ra == rb,
            Mode::Sorted => sorted_bytes(&ra) == sorted_bytes(&rb),
            Mode::Type => ra.first() == rb.first(),
            Mode::Ignore => true,
            Mode::Shape => shape_bytes(&ra) == shape_bytes(&rb),
        };
        if !same {
            failures.push(format!(
                "{name}:{}: {line}\n    redis:   {}\n    redoubt: {}",
                no + 1,
                show(&ra),
                show(&rb)
            ));
        }
    }
    failures
}

fn exchange(c: &mut Raw, args: &[&[u8]]) -> Vec<u8> {
    c.send_cmd(args);
    c.read_reply()
        .unwrap_or_else(|| b"<connection closed>".to_vec())
}

#[test]
fn corpus_replies_match_redis_byte_for_byte() {
    let redis = ServerHandle::start(Flavor::Redis, &[]);
    let ours = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("corpus dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files found");
    let mut failures = Vec::new();
    let mut lines = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read corpus");
        lines += text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
            .count();
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        failures.extend(run_corpus(&name, &text, &redis, &ours));
    }
    assert!(
        failures.is_empty(),
        "{} of {lines} corpus commands differ from Redis:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
