//! Access control lists, as Redis 7.0 has them: users with passwords and
//! selectors of allowed commands, key patterns and channel patterns.
//!
//! The ACL owns the users (by name, in name order as `ACL LIST` prints
//! them) and the `ACL LOG`. Each client points at its user through a shared
//! handle, so `ACL SETUSER` changes take effect on the next command of
//! every connection of that user, as in Redis. The permission check runs
//! in `cmd::execute` right after authentication; a user whose selector
//! allows everything (the default user out of the box) costs one flag test.
//!
//! `requirepass` is the default user's password: setting it replaces the
//! default user's passwords, as Redis's config does.

pub mod file;
pub mod log;
pub mod table;
pub mod user;

use crate::cmd::CommandMeta;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use user::{Selector, User, KEY_READ, KEY_WRITE};

pub type UserRef = Rc<RefCell<User>>;

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

pub struct Acl {
    pub users: BTreeMap<Vec<u8>, UserRef>,
    pub default: UserRef,
    pub log: log::AclLog,
    /// `acl-pubsub-default allchannels`: new users and selectors start
    /// with every channel allowed.
    pub pubsub_default_all: bool,
    /// Last `requirepass` applied to the default user, so other config
    /// changes do not reset passwords set with `ACL SETUSER default`.
    pub requirepass_applied: Option<String>,
}

impl Default for Acl {
    fn default() -> Self {
        Self::new()
    }
}

impl Acl {
    pub fn new() -> Acl {
        let default = Rc::new(RefCell::new(User::new_default()));
        let mut users = BTreeMap::new();
        users.insert(b"default".to_vec(), default.clone());
        Acl {
            users,
            default,
            log: log::AclLog::default(),
            pubsub_default_all: false,
            requirepass_applied: None,
        }
    }

    /// Redis's authRequired: the default user has a password or is off.
    pub fn auth_required(&self) -> bool {
        let d = self.default.borrow();
        !d.nopass || !d.enabled
    }

    /// Whether a new connection starts authenticated (as the default
    /// user, when it is on and has nopass).
    pub fn starts_authenticated(&self) -> bool {
        !self.auth_required()
    }

    pub fn get(&self, name: &[u8]) -> Option<UserRef> {
        self.users.get(name).cloned()
    }

    /// Checks credentials; returns the user on success.
    pub fn authenticate(&self, name: &[u8], pass: &[u8]) -> Option<UserRef> {
        let u = self.users.get(name)?;
        if u.borrow().check_password(pass) {
            Some(u.clone())
        } else {
            None
        }
    }

    /// Applies `requirepass` to the default user when it changed: no
    /// password means `nopass`, as Redis does.
    pub fn apply_requirepass(&mut self, pass: &str) {
        if self.requirepass_applied.as_deref() == Some(pass) {
            return;
        }
        self.requirepass_applied = Some(pass.to_string());
        let mut d = self.default.borrow_mut();
        d.apply(b"resetpass", false).ok();
        if pass.is_empty() {
            d.apply(b"nopass", false).ok();
        } else {
            let mut op = b">".to_vec();
            op.extend_from_slice(pass.as_bytes());
            d.apply(&op, false).ok();
        }
    }

    /// Puts `u` in place of the user of the same name (the default user is
    /// updated in place: every client holds it).
    pub fn install(&mut self, u: User) {
        match self.users.get(&u.name) {
            Some(existing) => *existing.borrow_mut() = u,
            None => {
                self.users.insert(u.name.clone(), Rc::new(RefCell::new(u)));
            }
        }
    }

    /// Replaces every user with `users` (ACL LOAD). The default user keeps
    /// its identity; a fresh one is used when `users` has none. Returns the
    /// users that were replaced, whose clients Redis disconnects.
    pub fn replace_all(&mut self, mut users: BTreeMap<Vec<u8>, User>) -> Vec<UserRef> {
        let new_default = users
            .remove(b"default".as_slice())
            .unwrap_or_else(User::new_default);
        *self.default.borrow_mut() = new_default;
        let old = std::mem::take(&mut self.users);
        self.users.insert(b"default".to_vec(), self.default.clone());
        for (name, u) in users {
            self.users.insert(name, Rc::new(RefCell::new(u)));
        }
        old.into_iter()
            .filter(|(n, _)| n.as_slice() != b"default")
            .map(|(_, u)| u)
            .collect()
    }

    /// Applies rule words to user `name` (created when missing), all or
    /// nothing: on error the user is left as it was and the error text is
    /// the full reply.
    pub fn set_user(&mut self, name: &[u8], ops: &[Vec<u8>]) -> Result<SetOutcome, String> {
        let ops = merge_selector_args(ops)?;
        let existing = self.users.get(name).cloned();
        let mut u = match &existing {
            Some(e) => e.borrow().clone(),
            None => User::new(name, self.pubsub_default_all),
        };
        for op in &ops {
            if let Err(reason) = u.apply(op, self.pubsub_default_all) {
                return Err(format!(
                    "ERR Error in ACL SETUSER modifier '{}': {reason}",
                    String::from_utf8_lossy(op)
                ));
            }
        }
        match existing {
            Some(e) => {
                let old = std::mem::replace(&mut *e.borrow_mut(), u);
                Ok(SetOutcome::Changed { old, user: e })
            }
            None => {
                self.users.insert(name.to_vec(), Rc::new(RefCell::new(u)));
                Ok(SetOutcome::Created)
            }
        }
    }
}

pub enum SetOutcome {
    Created,
    /// An existing user changed; `old` is how it was (to see whether
    /// subscribers lost channels).
    Changed {
        old: User,
        user: UserRef,
    },
}

/// Joins `(` ... `)` arguments into one selector word, as Redis does
/// before applying rules (`"(~a" "+get)"` is one selector).
pub fn merge_selector_args(ops: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut open: Option<Vec<u8>> = None;
    for op in ops {
        match open.as_mut() {
            Some(acc) => {
                acc.push(b' ');
                acc.extend_from_slice(op);
                if op.last() == Some(&b')') {
                    out.extend(open.take());
                }
            }
            None => {
                if op.first() == Some(&b'(') && op.last() != Some(&b')') {
                    open = Some(op.clone());
                } else {
                    out.push(op.clone());
                }
            }
        }
    }
    if let Some(acc) = open {
        let first = acc.split(|&b| b == b' ').next().unwrap_or_default();
        return Err(format!(
            "ERR Unmatched parenthesis in acl selector starting at '{}'.",
            String::from_utf8_lossy(first)
        ));
    }
    Ok(out)
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

/// The keys a command touches with their key-spec flags. SORT's STORE
/// destination is not findable by key specs (Redis marks the spec
/// incomplete and scans the arguments instead), so it is found here the
/// same way: LIMIT takes two arguments, BY and GET one, the last STORE
/// wins.
fn command_keys(meta: &CommandMeta, args: &[&[u8]]) -> Vec<(usize, &'static [&'static str])> {
    if meta.name != "sort" {
        return crate::commands::command::keys_with_flags(meta, args);
    }
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
            i += 1;
        }
        i += 1;
    }
    if let Some(s) = store {
        keys.push((s, &["OW", "update"]));
    }
    keys
}

/// Key flags of the commands whose key access depends on their
/// arguments, as Redis's key extraction computes them: SET reads the old
/// value only with GET; BITFIELD writes only with SET or INCRBY.
fn variable_key_flags(name: &str, args: &[&[u8]]) -> &'static [&'static str] {
    match name {
        "set" => {
            if args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get")) {
                &["RW", "access", "update"]
            } else {
                &["OW", "update"]
            }
        }
        "bitfield" => {
            let writes = args
                .iter()
                .skip(2)
                .any(|a| a.eq_ignore_ascii_case(b"set") || a.eq_ignore_ascii_case(b"incrby"));
            if writes {
                &["RW", "access", "update"]
            } else {
                &["RO", "access"]
            }
        }
        _ => &["RW", "access", "update"],
    }
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
        let keys = keys.get_or_insert_with(|| command_keys(meta, args));
        for &(pos, flags) in keys.iter() {
            let flags = if flags.contains(&"variable_flags") {
                variable_key_flags(meta.name, args)
            } else {
                flags
            };
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

/// Checks whether `user` may run the command `meta` with `args`. When no
/// selector allows it, the reported reason is the most specific one (a
/// channel over a key over the command), as Redis picks it.
pub fn check(user: &User, meta: &'static CommandMeta, args: &[&[u8]]) -> Result<(), Denied> {
    if user.unrestricted {
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
    argv: crate::cmd::Argv,
) -> Option<String> {
    let user = client.acl_user.as_ref()?;
    let args: Vec<&[u8]> = argv.iter().collect();
    let denied = check(&user.borrow(), meta, &args).err()?;
    let context = if client.multi.is_some() || client.in_exec {
        "multi"
    } else {
        "toplevel"
    };
    let object = match denied {
        Denied::Cmd => meta.name.as_bytes().to_vec(),
        Denied::Key(i) | Denied::Channel(i) => args.get(i).copied().unwrap_or_default().to_vec(),
    };
    let reason = match denied {
        Denied::Cmd => "command",
        Denied::Key(_) => "key",
        Denied::Channel(_) => "channel",
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
    crate::commands::client::describe(srv, client, current, &mut info);
    while info.ends_with('\n') {
        info.pop();
    }
    let max = srv.config.get_int("acllog-max-len").max(0) as usize;
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
