//! Key extraction from key specs, as Redis 7.0 does it: which arguments
//! of a full command line are keys, and with which flags. ACL key
//! permissions, client-side tracking and `COMMAND GETKEYS` all use it, so
//! they agree on what a key is.

use crate::{BeginSearch, CommandMeta, FindKeys, KeySpec};

/// Key positions with their key-spec flags, as the ACL check needs them:
/// specs flagged `not_key` are skipped, and arguments that contradict a
/// spec yield no keys at all (the command then fails on its own), as
/// Redis's key extraction does.
pub fn keys_with_flags(
    meta: &CommandMeta,
    args: &[&[u8]],
) -> Vec<(usize, &'static [&'static str])> {
    if let Some(keys) = by_procedure(meta, args) {
        return keys;
    }
    let mut out = Vec::new();
    for ks in meta.key_specs {
        if ks.flags.contains(&"not_key") {
            continue;
        }
        match spec_keys(ks, args) {
            Ok(found) => out.extend(found.into_iter().map(|i| (i, ks.flags))),
            Err(Contradicted) => return Vec::new(),
        }
    }
    out
}

/// Key positions of a full command line by its key specs, skipping
/// specs its arguments contradict (client tracking remembers these).
pub fn key_positions(meta: &CommandMeta, args: &[&[u8]]) -> Vec<usize> {
    meta.key_specs
        .iter()
        .filter_map(|ks| spec_keys(ks, args).ok())
        .flatten()
        .collect()
}

/// The arguments contradict a key spec (a numkeys beyond the end, a key
/// position past the last argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contradicted;

/// Positions found by one key spec; `Err` when the arguments contradict
/// it.
pub fn spec_keys(ks: &KeySpec, args: &[&[u8]]) -> Result<Vec<usize>, Contradicted> {
    let argc = args.len() as i64;
    let first = match ks.begin {
        BeginSearch::Index(i) => i as i64,
        BeginSearch::Keyword { keyword, startfrom } => {
            let (start, end, step) = if startfrom >= 0 {
                (startfrom as i64, argc - 1, 1)
            } else {
                (argc + startfrom as i64, 0, -1)
            };
            let mut i = start;
            let mut found = None;
            while (step > 0 && i <= end) || (step < 0 && i >= end) {
                if i >= 0 && i < argc && args[i as usize].eq_ignore_ascii_case(keyword.as_bytes()) {
                    found = Some(i + 1);
                    break;
                }
                i += step;
            }
            match found {
                Some(f) => f,
                None => return Ok(Vec::new()),
            }
        }
        BeginSearch::Unknown => return Ok(Vec::new()),
    };
    if first >= argc {
        return Ok(Vec::new());
    }
    let (first, last, step) = match ks.find {
        FindKeys::Range {
            lastkey,
            keystep,
            limit,
        } => {
            let last = if lastkey >= 0 {
                first + lastkey as i64
            } else if limit <= 1 {
                argc + lastkey as i64
            } else {
                first + ((argc - first) / limit as i64 + lastkey as i64)
            };
            (first, last, keystep.max(1) as i64)
        }
        FindKeys::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => {
            let ni = first + keynumidx as i64;
            if ni >= argc {
                return Err(Contradicted);
            }
            let n = resp::parse_i64(args[ni as usize]).ok_or(Contradicted)?;
            if n < 0 {
                return Err(Contradicted);
            }
            let f = first + firstkey as i64;
            let step = keystep.max(1) as i64;
            (f, f + (n - 1) * step, step)
        }
        FindKeys::Unknown => return Ok(Vec::new()),
    };
    let mut out = Vec::new();
    let mut i = first;
    while i <= last {
        if i >= argc || i < 0 {
            return Err(Contradicted);
        }
        out.push(i as usize);
        i += step;
    }
    Ok(out)
}

/// The keys of the commands whose key specs are incomplete, found by
/// scanning their arguments as Redis's key-extraction procedures do; None
/// for every other command (their specs say everything).
pub fn by_procedure(
    meta: &CommandMeta,
    args: &[&[u8]],
) -> Option<Vec<(usize, &'static [&'static str])>> {
    match meta.name {
        "sort" => Some(sort_keys(args)),
        "migrate" => Some(migrate_keys(args)),
        "set" => Some(vec![(1, set_key_flags(args))]),
        "bitfield" => Some(vec![(1, bitfield_key_flags(args))]),
        _ => None,
    }
}

/// SET reads the old value only with GET (the `variable_flags` of its key
/// spec, resolved as Redis's procedure does).
fn set_key_flags(args: &[&[u8]]) -> &'static [&'static str] {
    if args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get")) {
        &["RW", "access", "update"]
    } else {
        &["OW", "update"]
    }
}

/// BITFIELD only reads while its operations are GETs (and OVERFLOWs); a
/// SET or INCRBY — or anything it cannot parse — makes it a write.
fn bitfield_key_flags(args: &[&[u8]]) -> &'static [&'static str] {
    let mut i = 2;
    while i < args.len() {
        let rem = args.len() - i - 1;
        let a = args[i];
        if a.eq_ignore_ascii_case(b"get") && rem >= 2 {
            i += 3;
        } else if a.eq_ignore_ascii_case(b"overflow") && rem >= 1 {
            i += 2;
        } else {
            return &["RW", "access", "update"];
        }
    }
    &["RO", "access"]
}

/// SORT: the key, and the last STORE destination. Options take no
/// argument except LIMIT (two), BY and GET (one).
fn sort_keys(args: &[&[u8]]) -> Vec<(usize, &'static [&'static str])> {
    let mut keys: Vec<(usize, &'static [&'static str])> = vec![(1, &["RO", "access"])];
    let mut store = None;
    let mut i = 2;
    while i < args.len() {
        let a = args[i];
        if a.eq_ignore_ascii_case(b"limit") {
            i += 2;
        } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"store") && i + 1 < args.len() {
            store = Some(i + 1);
        }
        i += 1;
    }
    if let Some(s) = store {
        keys.push((s, &["OW", "update"]));
    }
    keys
}

/// MIGRATE: the key argument, or with an empty one the keys after KEYS
/// (AUTH takes one argument, AUTH2 two, COPY and REPLACE none). A key
/// argument together with KEYS is a syntax error MIGRATE reports itself:
/// no keys then.
fn migrate_keys(args: &[&[u8]]) -> Vec<(usize, &'static [&'static str])> {
    const FLAGS: &[&str] = &["RW", "access", "delete"];
    let (mut first, mut num) = (3, 1);
    let mut i = 6;
    while i < args.len() {
        let a = args[i];
        if a.eq_ignore_ascii_case(b"keys") {
            if args.get(3).is_some_and(|k| !k.is_empty()) {
                num = 0;
            } else {
                first = i + 1;
                num = args.len() - first;
            }
            break;
        }
        if a.eq_ignore_ascii_case(b"auth") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"auth2") {
            i += 2;
        }
        i += 1;
    }
    (first..first + num)
        .filter(|&p| p < args.len())
        .map(|p| (p, FLAGS))
        .collect()
}
