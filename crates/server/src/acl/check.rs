//! The permission check: may a user run this command, on these keys and
//! channels? As in Redis 7.0, a command passes when one selector allows
//! the command, every key it names (read or write as its key specs say)
//! and every channel it publishes or subscribes to. When none does, the
//! reason reported is the most specific one found (channel over key over
//! command), and refusals go to the ACL log.

use super::log;
use super::table;
use super::user::{Selector, User, KEY_READ, KEY_WRITE};
use crate::config::Directive;
use command_meta::CommandMeta;

/// Why a command was refused, with the argument position at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Denied {
    Cmd,
    Key(usize),
    Channel(usize),
}

impl Denied {
    fn rank(self) -> (u8, usize) {
        match self {
            Denied::Cmd => (1, 0),
            Denied::Key(i) => (2, i),
            Denied::Channel(i) => (4, i),
        }
    }
}

/// The channels a command names: (position, is a pattern). Only the
/// commands that publish or subscribe are checked, as in Redis.
fn channels_of(name: &str, argc: usize) -> (std::ops::Range<usize>, bool) {
    match name {
        "publish" | "spublish" => (1..2.min(argc), false),
        "subscribe" | "ssubscribe" => (1..argc, false),
        "psubscribe" => (1..argc, true),
        _ => (0..0, false),
    }
}

/// Whether `channel` passes a selector's channel list. A pattern
/// subscription must appear literally; a channel may match a pattern.
pub fn channel_allowed(sel: &Selector, channel: &[u8], is_pattern: bool) -> bool {
    sel.allchannels
        || sel.channels.iter().any(|p| {
            if is_pattern {
                p.as_slice() == channel
            } else {
                crate::util::glob::matches(p, channel, false)
            }
        })
}

fn key_allowed(sel: &Selector, key: &[u8], spec_flags: &[&str]) -> bool {
    if sel.allkeys {
        return true;
    }
    let mut need = 0;
    for f in spec_flags {
        match *f {
            "access" => need |= KEY_READ,
            "insert" | "delete" | "update" => need |= KEY_WRITE,
            _ => {}
        }
    }
    sel.patterns
        .iter()
        .any(|p| p.flags & need == need && crate::util::glob::matches(&p.pattern, key, false))
}

/// Checks one selector; `keys` is filled lazily and shared between
/// selectors.
fn check_selector(
    sel: &Selector,
    id: usize,
    meta: &'static CommandMeta,
    args: &[&[u8]],
    keys: &mut Option<Vec<(usize, &'static [&'static str])>>,
) -> Result<(), Denied> {
    let t = table::table();
    let c = &t.commands[id];
    if !sel.allcommands && !c.no_auth && !sel.allowed.get(id) {
        // A first argument allowed on its own (`+select|0`).
        let idx = if c.parent.is_some() { 2 } else { 1 };
        let ok = args.len() >= 2
            && sel.firstargs.iter().any(|(i, v)| {
                *i == id
                    && args
                        .get(idx)
                        .is_some_and(|a| v.iter().any(|f| f.as_bytes().eq_ignore_ascii_case(a)))
            });
        if !ok {
            return Err(Denied::Cmd);
        }
    }
    if !sel.allkeys && !meta.key_specs.is_empty() {
        let keys = keys.get_or_insert_with(|| command_meta::keys::keys_with_flags(meta, args));
        for &(pos, flags) in keys.iter() {
            if !key_allowed(sel, args[pos], flags) {
                return Err(Denied::Key(pos));
            }
        }
    }
    if !sel.allchannels {
        let (range, pattern) = channels_of(meta.name, args.len());
        for pos in range {
            if !channel_allowed(sel, args[pos], pattern) {
                return Err(Denied::Channel(pos));
            }
        }
    }
    Ok(())
}

/// The common cheap case: a selector with every command and every key
/// allows this command whatever its arguments, unless it names channels
/// the selector may not have (users created in 7.0 start without any).
fn allowed_without_arguments(user: &User, meta: &CommandMeta) -> bool {
    user.unrestricted
        || user
            .selectors
            .iter()
            .any(|s| s.allcommands && s.allkeys && (s.allchannels || !names_channels(meta.name)))
}

/// Whether the command publishes or subscribes to channels.
fn names_channels(name: &str) -> bool {
    !channels_of(name, 2).0.is_empty()
}

/// Checks whether `user` may run the command `meta` with `args`. When no
/// selector allows it, the reported reason is the most specific one (a
/// channel over a key over the command), as Redis picks it.
pub fn check(user: &User, meta: &'static CommandMeta, args: &[&[u8]]) -> Result<(), Denied> {
    if allowed_without_arguments(user, meta) {
        return Ok(());
    }
    let Some(id) = table::table().id_of(meta) else {
        return Ok(());
    };
    let mut keys = None;
    let mut worst = Denied::Cmd;
    for sel in &user.selectors {
        match check_selector(sel, id, meta, args, &mut keys) {
            Ok(()) => return Ok(()),
            Err(d) => {
                if d.rank() > worst.rank() {
                    worst = d;
                }
            }
        }
    }
    Err(worst)
}

/// The `-NOPERM` reply for a refusal (without the leading `-`).
pub fn noperm_message(d: Denied, meta: &CommandMeta) -> String {
    match d {
        Denied::Cmd => format!(
            "NOPERM this user has no permissions to run the '{}' command",
            meta.name
        ),
        Denied::Key(_) => {
            "NOPERM this user has no permissions to access one of the keys used as arguments".into()
        }
        Denied::Channel(_) => {
            "NOPERM this user has no permissions to access one of the channels used as arguments"
                .into()
        }
    }
}

/// The `ACL DRYRUN` text for a refusal, naming the key or channel.
pub fn dryrun_message(d: Denied, meta: &CommandMeta, args: &[&[u8]]) -> String {
    match d {
        Denied::Cmd => format!(
            "This user has no permissions to run the '{}' command",
            meta.name
        ),
        Denied::Key(i) => format!(
            "This user has no permissions to access the '{}' key",
            String::from_utf8_lossy(args.get(i).copied().unwrap_or_default())
        ),
        Denied::Channel(i) => format!(
            "This user has no permissions to access the '{}' channel",
            String::from_utf8_lossy(args.get(i).copied().unwrap_or_default())
        ),
    }
}

/// Runs the permission check for `client` and, on refusal, records it in
/// the ACL log and returns the error reply. Commands replayed by EXEC are
/// checked again, as the rules may have changed since they were queued.
pub fn refusal(
    srv: &mut crate::server::Server,
    client: &crate::client::Client,
    meta: &'static CommandMeta,
    argv: command_meta::Argv,
) -> Option<String> {
    let context = if client.multi.is_some() || client.in_exec {
        "multi"
    } else {
        "toplevel"
    };
    let denied = check_and_log(srv, client, meta, argv, context)?;
    if client.in_exec {
        let why = match denied {
            Denied::Cmd => "no permission to execute the command or subcommand",
            Denied::Key(_) => "no permission to touch the specified keys",
            Denied::Channel(_) => "no permission to access one of the channels used as arguments",
        };
        return Some(format!("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {why}"));
    }
    Some(noperm_message(denied, meta))
}

/// The permission check of `client`'s user for a command; a refusal is
/// recorded in the ACL log under `context` (`toplevel`, `multi`, `lua`).
fn check_and_log(
    srv: &mut crate::server::Server,
    client: &crate::client::Client,
    meta: &'static CommandMeta,
    argv: command_meta::Argv,
    context: &'static str,
) -> Option<Denied> {
    let user = client.acl_user.as_ref()?;
    if allowed_without_arguments(&user.borrow(), meta) {
        return None;
    }
    let args: Vec<&[u8]> = argv.iter().collect();
    let denied = check(&user.borrow(), meta, &args).err()?;
    let (reason, object) = match denied {
        Denied::Cmd => ("command", meta.name.as_bytes().to_vec()),
        Denied::Key(i) => ("key", args.get(i).copied().unwrap_or_default().to_vec()),
        Denied::Channel(i) => ("channel", args.get(i).copied().unwrap_or_default().to_vec()),
    };
    let username = user.borrow().name.clone();
    let mem = args.iter().map(|a| a.len()).sum();
    add_log_entry(
        srv,
        client,
        reason,
        context,
        object,
        username,
        Some((meta.name, mem)),
    );
    Some(denied)
}

/// Adds an `ACL LOG` entry; `current` is the command being run and its
/// argument bytes, shown in the client info.
pub fn add_log_entry(
    srv: &mut crate::server::Server,
    client: &crate::client::Client,
    reason: &'static str,
    context: &'static str,
    object: Vec<u8>,
    username: Vec<u8>,
    current: Option<(&str, usize)>,
) {
    let mut info = String::new();
    crate::clients::describe(srv, client, current, &mut info);
    while info.ends_with('\n') {
        info.pop();
    }
    let max = srv.config.get_int(Directive::AcllogMaxLen).max(0) as usize;
    let now = srv.now_ms;
    srv.acl.log.add(
        log::LogEntry {
            count: 1,
            reason,
            context,
            object,
            username,
            ctime_ms: now,
            client_info: info,
        },
        max,
    );
}

/// Whether the client's user may read any key (Redis tests the key `*`
/// against each selector): SORT's BY and GET patterns need it.
pub fn may_read_all_keys(client: &crate::client::Client) -> bool {
    let Some(user) = &client.acl_user else {
        return true;
    };
    let u = user.borrow();
    u.unrestricted
        || u.selectors
            .iter()
            .any(|s| key_allowed(s, b"*", &["access"]))
}

/// A script's `redis.call` refused by ACL: logged with the context `lua`,
/// and the text the script sees (Redis's `scriptVerifyACL`); the script
/// client carries the caller's user.
pub fn script_refusal(
    srv: &mut crate::server::Server,
    client: &crate::client::Client,
    meta: &'static CommandMeta,
    argv: command_meta::Argv,
) -> Option<String> {
    let why = match check_and_log(srv, client, meta, argv, "lua")? {
        Denied::Cmd => "can't run this command or subcommand",
        Denied::Key(_) => {
            "can't access at least one of the keys mentioned in the command arguments"
        }
        Denied::Channel(_) => "can't publish to the channel mentioned in the command",
    };
    Some(crate::errors::script_acl(why))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str) -> &'static CommandMeta {
        let t = table::table();
        t.commands[t.lookup(name).unwrap()].meta
    }

    fn user(rules: &[&str]) -> User {
        let mut u = User::new(b"u", false);
        for r in rules {
            u.apply(r.as_bytes(), false).unwrap();
        }
        u
    }

    fn run(u: &User, args: &[&str]) -> Result<(), Denied> {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        let name = if args.len() > 1 && !meta(args[0]).subcommands.is_empty() {
            format!("{}|{}", args[0], args[1])
        } else {
            args[0].to_string()
        };
        check(u, meta(&name), &a)
    }

    #[test]
    fn read_and_write_patterns_follow_key_spec_flags() {
        let u = user(&["+@all", "%R~r*", "%W~w*"]);
        assert_eq!(run(&u, &["get", "r1"]), Ok(()));
        assert_eq!(run(&u, &["get", "w1"]), Err(Denied::Key(1)));
        // SET without GET only writes; with GET it also reads.
        assert_eq!(run(&u, &["set", "w1", "v"]), Ok(()));
        assert_eq!(run(&u, &["set", "w1", "v", "GET"]), Err(Denied::Key(1)));
        // COPY reads its source and writes its destination.
        assert_eq!(run(&u, &["copy", "r1", "w1"]), Ok(()));
        assert_eq!(run(&u, &["copy", "w1", "r1"]), Err(Denied::Key(1)));
        // EXISTS neither reads nor writes the value: any pattern will do.
        assert_eq!(run(&u, &["exists", "w1"]), Ok(()));
        assert_eq!(run(&u, &["exists", "x"]), Err(Denied::Key(1)));
    }

    #[test]
    fn selectors_and_the_most_specific_reason() {
        let u = user(&["+get", "~a*", "(+set ~b*)", "&c"]);
        assert_eq!(run(&u, &["get", "a1"]), Ok(()));
        assert_eq!(run(&u, &["set", "b1", "v"]), Ok(()));
        assert_eq!(run(&u, &["set", "a1", "v"]), Err(Denied::Key(1)));
        assert_eq!(run(&u, &["del", "a1"]), Err(Denied::Cmd));
        assert_eq!(run(&u, &["get", "zz"]), Err(Denied::Key(1)));
    }

    #[test]
    fn channels_patterns_and_first_args() {
        let u = user(&["+publish", "+psubscribe", "+select|0", "&news.*"]);
        assert_eq!(run(&u, &["publish", "news.x", "m"]), Ok(()));
        assert_eq!(run(&u, &["publish", "other", "m"]), Err(Denied::Channel(1)));
        // A pattern subscription must be granted literally.
        assert_eq!(run(&u, &["psubscribe", "news.*"]), Ok(()));
        assert_eq!(run(&u, &["psubscribe", "news.x*"]), Err(Denied::Channel(1)));
        assert_eq!(run(&u, &["select", "0"]), Ok(()));
        assert_eq!(run(&u, &["select", "1"]), Err(Denied::Cmd));
        // AUTH and HELLO run whatever the rules say.
        assert_eq!(run(&u, &["auth", "a", "b"]), Ok(()));
    }

    #[test]
    fn refusal_texts_are_redis_s() {
        assert_eq!(
            noperm_message(Denied::Cmd, meta("config|get")),
            "NOPERM this user has no permissions to run the 'config|get' command"
        );
        let args: Vec<&[u8]> = vec![b"get", b"k"];
        assert_eq!(
            dryrun_message(Denied::Key(1), meta("get"), &args),
            "This user has no permissions to access the 'k' key"
        );
    }
}
