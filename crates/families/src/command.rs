//! `COMMAND` and its subcommands: the command table as clients see it.
//!
//! Everything here reads the generated metadata (`specs.rs`) of the
//! commands that have a handler, so what we advertise is exactly what we
//! serve. `COMMAND INFO` is byte-identical to Redis 7.0 for served
//! commands without subcommands (for containers, Redis lists subcommands
//! in hash-table order; we list the served ones in table order).
//! `COMMAND DOCS` summaries are our own words.

use crate::client::help_reply;
use command_meta::{BeginSearch, CommandMeta, FindKeys, KeySpec};
use resp::Reply;
use server::cmd::{Command, Ctx, Handler};
use server::errors;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("command", command),
    ("command|count", command_count),
    ("command|info", command_info),
    ("command|docs", command_docs),
    ("command|getkeys", command_getkeys),
    ("command|getkeysandflags", command_getkeysandflags),
    ("command|list", command_list),
    ("command|help", command_help),
];

/// Served top-level commands (not renamed away), in table order.
fn served(ctx: &Ctx) -> Vec<usize> {
    let t = &ctx.srv.commands;
    t.top_level()
        .filter(|(i, _)| t.is_served(*i))
        .map(|(i, _)| i)
        .collect()
}

/// Finds a command by name; `parent|sub` names a subcommand.
fn find(ctx: &Ctx, name: &[u8]) -> Option<usize> {
    let t = &ctx.srv.commands;
    match name.iter().position(|&b| b == b'|') {
        Some(p) => {
            let parent = t.lookup(&name[..p])?;
            t.lookup_sub(parent, &name[p + 1..])
        }
        None => t.lookup(name),
    }
}

fn command(ctx: &mut Ctx) {
    if ctx.argv.len() > 1 {
        // Only reached for an unknown subcommand of COMMAND.
        let msg = errors::unknown_subcommand(ctx.argv.get(1), "command");
        return ctx.err(&msg);
    }
    let all = served(ctx);
    let (srv, client) = ctx.parts();
    let out = &mut client.out;
    out.array(all.len());
    for i in all {
        write_info(out, &srv.commands.commands, i);
    }
}

fn command_count(ctx: &mut Ctx) {
    let n = served(ctx).len() as i64;
    ctx.out().int(n);
}

fn command_info(ctx: &mut Ctx) {
    let wanted: Vec<Option<usize>> = if ctx.argv.len() == 2 {
        served(ctx).into_iter().map(Some).collect()
    } else {
        ctx.argv.from(2).map(|n| find(ctx, n)).collect()
    };
    let (srv, client) = ctx.parts();
    let out = &mut client.out;
    out.array(wanted.len());
    for w in wanted {
        match w {
            Some(i) => write_info(out, &srv.commands.commands, i),
            None => out.null(),
        }
    }
}

/// Status strings as a set (RESP3) or array (RESP2).
fn status_set(out: &mut Reply, items: &[&str]) {
    out.set(items.len());
    for s in items {
        out.simple(s.as_bytes());
    }
}

/// One `COMMAND INFO` entry: name, arity, flags, first/last/step, ACL
/// categories, tips, key specs, subcommands — Redis 7.0's ten fields.
fn write_info(out: &mut Reply, cmds: &[Command], idx: usize) {
    let c = &cmds[idx];
    let m = c.meta;
    out.array(10);
    out.bulk(m.name.as_bytes());
    out.int(m.arity as i64);
    status_set(out, m.flags);
    out.int(m.first_key as i64);
    out.int(m.last_key as i64);
    out.int(m.step as i64);
    status_set(out, m.acl_categories);
    out.set(m.tips.len());
    for t in m.tips {
        out.bulk(t.as_bytes());
    }
    // Key specs are a set; subcommands an array, or an empty *set* when
    // there are none — RESP3 clients see the difference.
    out.set(m.key_specs.len());
    for ks in m.key_specs {
        write_key_spec(out, ks);
    }
    let mut subs: Vec<usize> = c.subcommands.values().copied().collect();
    subs.sort_unstable();
    if subs.is_empty() {
        out.set(0);
    } else {
        out.array(subs.len());
        for s in subs {
            write_info(out, cmds, s);
        }
    }
}

fn write_key_spec(out: &mut Reply, ks: &KeySpec) {
    out.map(if ks.notes.is_empty() { 3 } else { 4 });
    if !ks.notes.is_empty() {
        out.bulk(b"notes");
        out.bulk(ks.notes.as_bytes());
    }
    out.bulk(b"flags");
    status_set(out, ks.flags);
    out.bulk(b"begin_search");
    out.map(2);
    out.bulk(b"type");
    match ks.begin {
        BeginSearch::Index(i) => {
            out.bulk(b"index");
            out.bulk(b"spec");
            out.map(1);
            out.bulk(b"index");
            out.int(i as i64);
        }
        BeginSearch::Keyword { keyword, startfrom } => {
            out.bulk(b"keyword");
            out.bulk(b"spec");
            out.map(2);
            out.bulk(b"keyword");
            out.bulk(keyword.as_bytes());
            out.bulk(b"startfrom");
            out.int(startfrom as i64);
        }
        BeginSearch::Unknown => {
            out.bulk(b"unknown");
            out.bulk(b"spec");
            out.map(0);
        }
    }
    out.bulk(b"find_keys");
    out.map(2);
    out.bulk(b"type");
    match ks.find {
        FindKeys::Range {
            lastkey,
            keystep,
            limit,
        } => {
            out.bulk(b"range");
            out.bulk(b"spec");
            out.map(3);
            out.bulk(b"lastkey");
            out.int(lastkey as i64);
            out.bulk(b"keystep");
            out.int(keystep as i64);
            out.bulk(b"limit");
            out.int(limit as i64);
        }
        FindKeys::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => {
            out.bulk(b"keynum");
            out.bulk(b"spec");
            out.map(3);
            out.bulk(b"keynumidx");
            out.int(keynumidx as i64);
            out.bulk(b"firstkey");
            out.int(firstkey as i64);
            out.bulk(b"keystep");
            out.int(keystep as i64);
        }
        FindKeys::Unknown => {
            out.bulk(b"unknown");
            out.bulk(b"spec");
            out.map(0);
        }
    }
}

// ------------------------------------------------------------------ DOCS

fn command_docs(ctx: &mut Ctx) {
    let wanted: Vec<usize> = if ctx.argv.len() == 2 {
        served(ctx)
    } else {
        ctx.argv.from(2).filter_map(|n| find(ctx, n)).collect()
    };
    let (srv, client) = ctx.parts();
    let out = &mut client.out;
    out.map(wanted.len());
    for i in wanted {
        let c = &srv.commands.commands[i];
        out.bulk(c.meta.name.as_bytes());
        write_doc(out, &srv.commands.commands, i);
    }
}

fn write_doc(out: &mut Reply, cmds: &[Command], idx: usize) {
    let c = &cmds[idx];
    let m = c.meta;
    let mut subs: Vec<usize> = c.subcommands.values().copied().collect();
    subs.sort_unstable();
    out.map(if subs.is_empty() { 3 } else { 4 });
    out.bulk(b"summary");
    out.bulk(summary(m).as_bytes());
    out.bulk(b"since");
    out.bulk(m.since.as_bytes());
    out.bulk(b"group");
    out.bulk(m.group.as_bytes());
    if !subs.is_empty() {
        out.bulk(b"subcommands");
        out.map(subs.len());
        for s in subs {
            out.bulk(cmds[s].meta.name.as_bytes());
            write_doc(out, cmds, s);
        }
    }
}

/// Our one-line description of a command.
fn summary(m: &CommandMeta) -> String {
    let table = crate::summaries::SUMMARIES;
    if let Ok(i) = table.binary_search_by(|(n, _)| n.cmp(&m.name)) {
        return table[i].1.to_string();
    }
    match m.name.split_once('|') {
        Some((parent, sub)) => format!(
            "The {} subcommand of {}.",
            sub.to_ascii_uppercase(),
            parent.to_ascii_uppercase()
        ),
        None => format!("A command of the {} group.", m.group),
    }
}

// --------------------------------------------------------------- GETKEYS

/// Why keys could not be extracted, with Redis's messages.
enum GetKeysError {
    InvalidCommand,
    NoKeys,
    Arity,
    InvalidArgs,
}

impl GetKeysError {
    fn msg(&self) -> &'static str {
        match self {
            GetKeysError::InvalidCommand => "ERR Invalid command specified",
            GetKeysError::NoKeys => "ERR The command has no key arguments",
            GetKeysError::Arity => "ERR Invalid number of arguments specified for command",
            GetKeysError::InvalidArgs => "ERR Invalid arguments specified for command",
        }
    }
}

/// Key positions of `args` (a full command) with the flags of the key
/// spec that found each one, following the key specs as Redis does.
fn keys_of(
    ctx: &Ctx,
    args: &[&[u8]],
) -> Result<Vec<(usize, &'static [&'static str])>, GetKeysError> {
    let t = &ctx.srv.commands;
    let mut idx = t
        .lookup(args.first().copied().unwrap_or_default())
        .ok_or(GetKeysError::InvalidCommand)?;
    if !t.commands[idx].subcommands.is_empty() {
        match args.get(1).and_then(|s| t.lookup_sub(idx, s)) {
            Some(s) => idx = s,
            None => return Err(GetKeysError::InvalidCommand),
        }
    }
    let m = t.commands[idx].meta;
    if m.key_specs.is_empty() {
        return Err(GetKeysError::NoKeys);
    }
    let argc = args.len() as i64;
    let arity = m.arity as i64;
    if (arity > 0 && argc != arity) || argc < -arity {
        return Err(GetKeysError::Arity);
    }
    // Scripts find their keys through a numkeys argument and report none,
    // rather than an error, when it is out of range.
    let lenient = m.name.starts_with("eval") || m.name.starts_with("fcall");
    if let Some(keys) = command_meta::keys::by_procedure(m, args) {
        return Ok(keys);
    }
    let mut keys = Vec::new();
    for ks in m.key_specs {
        match command_meta::keys::spec_keys(ks, args) {
            Ok(found) => keys.extend(found.into_iter().map(|i| (i, ks.flags))),
            Err(_) if lenient => return Ok(Vec::new()),
            Err(_) => return Err(GetKeysError::InvalidArgs),
        }
    }
    Ok(keys)
}

fn command_getkeys(ctx: &mut Ctx) {
    let args: Vec<&[u8]> = ctx.argv.from(2).collect();
    match keys_of(ctx, &args) {
        Err(e) => ctx.err(e.msg()),
        Ok(keys) => {
            let out = &mut ctx.client.out;
            out.array(keys.len());
            for (i, _) in keys {
                out.bulk(args[i]);
            }
        }
    }
}

fn command_getkeysandflags(ctx: &mut Ctx) {
    let args: Vec<&[u8]> = ctx.argv.from(2).collect();
    match keys_of(ctx, &args) {
        Err(e) => ctx.err(e.msg()),
        Ok(keys) => {
            let out = &mut ctx.client.out;
            out.array(keys.len());
            for (i, flags) in keys {
                out.array(2);
                out.bulk(args[i]);
                status_set(out, flags);
            }
        }
    }
}

// ------------------------------------------------------------------ LIST

fn command_list(ctx: &mut Ctx) {
    enum Filter {
        All,
        Module,
        AclCat(String),
        Pattern(Vec<u8>),
    }
    let filter = match ctx.argv.len() {
        2 => Filter::All,
        5 if ctx.argv.get(2).eq_ignore_ascii_case(b"FILTERBY") => {
            let kind = ctx.argv.get(3);
            let val = ctx.argv.get(4);
            if kind.eq_ignore_ascii_case(b"MODULE") {
                Filter::Module
            } else if kind.eq_ignore_ascii_case(b"ACLCAT") {
                Filter::AclCat(format!("@{}", String::from_utf8_lossy(val).to_lowercase()))
            } else if kind.eq_ignore_ascii_case(b"PATTERN") {
                Filter::Pattern(val.to_vec())
            } else {
                return ctx.err(errors::SYNTAX);
            }
        }
        _ => return ctx.err(errors::SYNTAX),
    };
    let mut names: Vec<&'static str> = Vec::new();
    let t = &ctx.srv.commands;
    for i in served(ctx) {
        let c = &t.commands[i];
        let mut subs: Vec<usize> = c.subcommands.values().copied().collect();
        subs.sort_unstable();
        for j in std::iter::once(i).chain(subs) {
            let m = t.commands[j].meta;
            let keep = match &filter {
                Filter::All => true,
                // No modules are loaded.
                Filter::Module => false,
                Filter::AclCat(cat) => m.acl_categories.iter().any(|c| c == cat),
                Filter::Pattern(p) => server::util::glob::matches(p, m.name.as_bytes(), true),
            };
            if keep {
                names.push(m.name);
            }
        }
    }
    let out = &mut ctx.client.out;
    out.array(names.len());
    for n in names {
        out.bulk(n.as_bytes());
    }
}

fn command_help(ctx: &mut Ctx) {
    help_reply(
        ctx,
        "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "(no subcommand)",
            "    Metadata of every command served.",
            "COUNT",
            "    Number of commands served.",
            "INFO [<name> ...]",
            "    Metadata of the named commands (all when none): name, arity, flags,",
            "    key positions, ACL categories, tips, key specs, subcommands.",
            "DOCS [<name> ...]",
            "    A short description of the named commands (all when none).",
            "GETKEYS <full-command>",
            "    The key names in <full-command>.",
            "GETKEYSANDFLAGS <full-command>",
            "    The key names in <full-command> with their access flags.",
            "LIST [FILTERBY (MODULE <name>|ACLCAT <category>|PATTERN <glob>)]",
            "    Names of the commands served, optionally filtered.",
        ],
    );
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    #[test]
    fn info_of_get_matches_redis_bytes() {
        let mut k = Kit::new();
        let expect =
            "*1\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n\
            *3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n\
            +access\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n\
            *2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n\
            $4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n\
            :0\r\n*0\r\n";
        assert_eq!(k.run(&["COMMAND", "INFO", "get"]), expect);
        assert_eq!(k.run(&["COMMAND", "INFO", "nosuch"]), "*1\r\n$-1\r\n");
    }

    #[test]
    fn getkeys_errors_and_keys() {
        let mut k = Kit::new();
        assert_eq!(
            k.run(&["COMMAND", "GETKEYS", "nosuch", "x"]),
            "-ERR Invalid command specified\r\n"
        );
        assert_eq!(
            k.run(&["COMMAND", "GETKEYS", "ping", "x"]),
            "-ERR The command has no key arguments\r\n"
        );
        assert_eq!(
            k.run(&["COMMAND", "GETKEYS", "get", "k", "x"]),
            "-ERR Invalid number of arguments specified for command\r\n"
        );
        assert_eq!(
            k.run(&["COMMAND", "GETKEYS", "set", "k", "v"]),
            "*1\r\n$1\r\nk\r\n"
        );
    }

    #[test]
    fn summaries_are_sorted_and_used() {
        let t = crate::summaries::SUMMARIES;
        assert!(t.windows(2).all(|w| w[0].0 < w[1].0));
        let mut k = Kit::new();
        let r = k.run(&["COMMAND", "DOCS", "get"]);
        assert!(r.contains("Reads a string."), "{r}");
    }

    #[test]
    fn list_filters() {
        let mut k = Kit::new();
        let r = k.run(&["COMMAND", "LIST", "FILTERBY", "PATTERN", "client|k*"]);
        assert_eq!(r, "*1\r\n$11\r\nclient|kill\r\n");
        assert_eq!(
            k.run(&["COMMAND", "LIST", "FILTERBY", "MODULE", "x"]),
            "*0\r\n"
        );
        assert_eq!(
            k.run(&["COMMAND", "LIST", "FILTERBY", "foo", "x"]),
            "-ERR syntax error\r\n"
        );
        let r = k.run(&["COMMAND", "LIST", "FILTERBY", "ACLCAT", "connection"]);
        assert!(r.contains("$4\r\nping\r\n"), "{r}");
        assert!(!r.contains("$3\r\nget\r\n"), "{r}");
    }

    #[test]
    fn every_introspection_reply_is_one_complete_frame() {
        let cmds: &[&[&str]] = &[
            &["INFO", "everything"],
            &["CLIENT", "LIST"],
            &["CLIENT", "INFO"],
            &["CLIENT", "HELP"],
            &["COMMAND"],
            &["COMMAND", "INFO"],
            &["COMMAND", "DOCS"],
            &["COMMAND", "LIST"],
            &["COMMAND", "HELP"],
            &["COMMAND", "GETKEYSANDFLAGS", "set", "k", "v"],
            &["SLOWLOG", "GET", "-1"],
            &["SLOWLOG", "HELP"],
            &["LATENCY", "LATEST"],
            &["LATENCY", "HISTORY", "command"],
            &["LATENCY", "DOCTOR"],
            &["LATENCY", "HELP"],
            &["MEMORY", "STATS"],
            &["MEMORY", "DOCTOR"],
            &["MEMORY", "HELP"],
            &["DEBUG", "HELP"],
            &["TIME"],
        ];
        for proto in ["2", "3"] {
            let mut k = Kit::new();
            let _ = k.srv.config.set("enable-debug-command", &["yes".into()]);
            k.srv.slowlog_slower_than = 0;
            k.srv.latency_threshold_ms = 0;
            k.srv.latency.add("command", 1, 5);
            k.run(&["HELLO", proto]);
            k.run(&["SET", "k", "v"]);
            for c in cmds {
                let r = k.run(c);
                match resp::parse_frame(r.as_bytes()) {
                    Ok(Some((f, n))) => {
                        assert_eq!(n, r.len(), "RESP{proto} {c:?}: trailing bytes");
                        assert!(!matches!(f, resp::Frame::Error(_)), "{c:?}: {r}");
                    }
                    other => panic!("RESP{proto} {c:?}: {other:?} in {r}"),
                }
            }
        }
    }
}
