//! Users and selectors: the rule language of `ACL SETUSER` / `user` lines,
//! applied one word at a time, and the description `ACL LIST` prints.
//!
//! As in Redis 7.0, a user has a root selector plus optional extra
//! selectors `(...)`; a command runs when any selector allows it. A
//! selector keeps a bitmap of allowed commands rather than the rules that
//! built it, so `ACL LIST` re-derives rules from the bitmap: start from
//! `+@all` or `-@all`, pick the categories that fit best, then name single
//! commands. Redis emits those single commands in its hash-table order,
//! which changes from run to run; we emit them in command-table order.

use super::table::{table, Bits, CATEGORIES};
use sha2::{Digest, Sha256};

/// Key pattern permission bits.
pub const KEY_READ: u8 = 1;
pub const KEY_WRITE: u8 = 2;
pub const KEY_ALL: u8 = KEY_READ | KEY_WRITE;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPattern {
    pub flags: u8,
    pub pattern: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    pub allowed: Bits,
    /// Every command allowed, including ones added later (`+@all` and no
    /// removal since): the check skips the bitmap.
    pub allcommands: bool,
    /// `+@all` was the starting point (commands unknown today would be
    /// allowed): `ACL LIST` then starts with `+@all`.
    pub future: bool,
    /// `+cmd|arg` rules for commands without subcommands: (id, first args).
    pub firstargs: Vec<(usize, Vec<String>)>,
    pub allkeys: bool,
    pub patterns: Vec<KeyPattern>,
    pub allchannels: bool,
    pub channels: Vec<Vec<u8>>,
}

impl Selector {
    pub fn new(allchannels: bool) -> Selector {
        Selector {
            allowed: Bits::default(),
            allcommands: false,
            future: false,
            firstargs: Vec::new(),
            allkeys: false,
            patterns: Vec::new(),
            allchannels,
            channels: Vec::new(),
        }
    }

    fn clear_firstargs(&mut self, id: usize) {
        self.firstargs.retain(|(i, _)| *i != id);
    }

    /// Allows or denies one command; a container takes its subcommands
    /// along (Redis's ACLChangeSelectorPerm).
    fn change_perm(&mut self, id: usize, allow: bool) {
        self.set_bit(id, allow);
        for &s in &table().commands[id].subs {
            self.set_bit(s, allow);
        }
    }

    fn set_bit(&mut self, id: usize, allow: bool) {
        self.allowed.set(id, allow);
        if !allow {
            self.allcommands = false;
        }
        self.clear_firstargs(id);
    }

    fn change_category(&mut self, cat: u32, allow: bool) {
        for (id, c) in table().commands.iter().enumerate() {
            if c.categories & cat != 0 {
                self.change_perm(id, allow);
            }
        }
    }

    /// Applies one selector rule. Errors are the reason texts Redis gives.
    pub fn apply(&mut self, op: &[u8]) -> Result<(), &'static str> {
        let text = String::from_utf8_lossy(op);
        let lower = text.to_ascii_lowercase();
        match lower.as_str() {
            "allkeys" => {
                self.allkeys = true;
                self.patterns.clear();
                return Ok(());
            }
            "resetkeys" => {
                self.allkeys = false;
                self.patterns.clear();
                return Ok(());
            }
            "allchannels" => {
                self.allchannels = true;
                self.channels.clear();
                return Ok(());
            }
            "resetchannels" => {
                self.allchannels = false;
                self.channels.clear();
                return Ok(());
            }
            "allcommands" | "+@all" => {
                self.allowed = Bits::all();
                self.allcommands = true;
                self.future = true;
                self.firstargs.clear();
                return Ok(());
            }
            "nocommands" | "-@all" => {
                self.allowed = Bits::default();
                self.allcommands = false;
                self.future = false;
                self.firstargs.clear();
                return Ok(());
            }
            _ => {}
        }
        match op.first() {
            Some(b'~') | Some(b'%') => self.add_key_pattern(op),
            Some(b'&') => {
                let pat = &op[1..];
                // `&*` is `allchannels`, fine whatever came before.
                if pat == b"*" {
                    self.allchannels = true;
                    self.channels.clear();
                    return Ok(());
                }
                if self.allchannels {
                    return Err(ERR_CHANNEL_AFTER_ALL);
                }
                if !self.channels.iter().any(|c| c == pat) {
                    self.channels.push(pat.to_vec());
                }
                Ok(())
            }
            Some(&sign @ (b'+' | b'-')) => {
                let allow = sign == b'+';
                let rest = &text[1..];
                if let Some(cat) = rest.strip_prefix('@') {
                    let bit = super::table::category_bit(cat).ok_or(ERR_UNKNOWN_CMD)?;
                    self.change_category(bit, allow);
                    return Ok(());
                }
                if !allow || !rest.contains('|') {
                    let id = table().lookup(rest).ok_or(ERR_UNKNOWN_CMD)?;
                    self.change_perm(id, allow);
                    return Ok(());
                }
                // `+cmd|sub`: a real subcommand, or a first argument of a
                // command without subcommands (`+select|0`).
                let (cmd, sub) = rest.rsplit_once('|').ok_or(ERR_SYNTAX)?;
                let t = table();
                let id = t.lookup(cmd).ok_or(ERR_UNKNOWN_CMD)?;
                if t.commands[id].parent.is_some() {
                    return Err(ERR_FIRSTARG_OF_SUB);
                }
                if sub.is_empty() {
                    return Err(ERR_SYNTAX);
                }
                if !t.commands[id].subs.is_empty() {
                    let sid = t.lookup(rest).ok_or(ERR_UNKNOWN_CMD)?;
                    self.change_perm(sid, true);
                } else {
                    // As Redis, a first argument is kept as written.
                    let sub = rest[cmd.len() + 1..].to_string();
                    match self.firstargs.iter_mut().find(|(i, _)| *i == id) {
                        Some((_, v)) => {
                            if !v.iter().any(|a| a.eq_ignore_ascii_case(&sub)) {
                                v.push(sub)
                            }
                        }
                        None => self.firstargs.push((id, vec![sub])),
                    }
                }
                Ok(())
            }
            _ => Err(ERR_SYNTAX),
        }
    }

    fn add_key_pattern(&mut self, op: &[u8]) -> Result<(), &'static str> {
        if self.allkeys {
            return Err(ERR_KEY_AFTER_ALL);
        }
        let (flags, offset) = if op[0] == b'%' {
            let mut flags = 0;
            let mut offset = 1;
            while offset < op.len() {
                match op[offset] {
                    b'R' | b'r' if flags & KEY_READ == 0 => flags |= KEY_READ,
                    b'W' | b'w' if flags & KEY_WRITE == 0 => flags |= KEY_WRITE,
                    b'~' => {
                        offset += 1;
                        break;
                    }
                    _ => return Err(ERR_SYNTAX),
                }
                offset += 1;
            }
            if flags == 0 {
                return Err(ERR_SYNTAX);
            }
            (flags, offset)
        } else {
            (KEY_ALL, 1)
        };
        let pat = &op[offset.min(op.len())..];
        if pat == b"*" && flags == KEY_ALL {
            self.allkeys = true;
            self.patterns.clear();
            return Ok(());
        }
        match self.patterns.iter_mut().find(|p| p.pattern == pat) {
            Some(p) => p.flags |= flags,
            None => self.patterns.push(KeyPattern {
                flags,
                pattern: pat.to_vec(),
            }),
        }
        Ok(())
    }

    /// `~a* %R~b` — the key part of a description (empty without keys).
    pub fn describe_keys(&self) -> String {
        if self.allkeys {
            return "~*".into();
        }
        let parts: Vec<String> = self
            .patterns
            .iter()
            .map(|p| {
                let prefix = match p.flags {
                    KEY_READ => "%R~",
                    KEY_WRITE => "%W~",
                    _ => "~",
                };
                format!("{prefix}{}", String::from_utf8_lossy(&p.pattern))
            })
            .collect();
        parts.join(" ")
    }

    /// `&a &b` — the channel part as `ACL GETUSER` shows it.
    pub fn describe_channels(&self) -> String {
        if self.allchannels {
            return "&*".into();
        }
        let parts: Vec<String> = self
            .channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect();
        parts.join(" ")
    }

    /// The command rules: `+@all`/`-@all`, then the best-fitting
    /// categories, then single commands and first arguments.
    pub fn describe_commands(&self) -> String {
        let t = table();
        let additive = !self.future;
        let mut rules = String::from(if additive { "-@all " } else { "+@all " });
        let mut fake = Selector::new(false);
        fake.apply(if additive { b"-@all" } else { b"+@all" }).ok();
        // What is left to explain: categories already emitted are removed
        // from (or added to) this copy so they do not count twice.
        let mut temp = self.clone();
        let mut applied = [false; 32];
        loop {
            let mut best = None;
            let (mut mindiff, mut maxsame) = (usize::MAX, 0usize);
            for (j, _) in CATEGORIES.iter().enumerate() {
                if applied[j] {
                    continue;
                }
                let (on, off) = temp.count_category(1 << j);
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some(j);
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some(j) = best else { break };
            fake.change_category(1 << j, additive);
            temp.change_category(1 << j, !additive);
            rules.push_str(if additive { "+@" } else { "-@" });
            rules.push_str(CATEGORIES[j]);
            rules.push(' ');
            applied[j] = true;
        }
        for (id, c) in t.commands.iter().enumerate() {
            if c.parent.is_some() {
                continue;
            }
            let emit = |id: usize, fake: &mut Selector, rules: &mut String| {
                let user = self.allowed.get(id);
                if user != fake.allowed.get(id) {
                    rules.push(if user { '+' } else { '-' });
                    rules.push_str(t.commands[id].meta.name);
                    rules.push(' ');
                    fake.change_perm(id, user);
                }
            };
            emit(id, &mut fake, &mut rules);
            for &s in &c.subs {
                emit(s, &mut fake, &mut rules);
            }
            if !self.allowed.get(id) {
                if let Some((_, args)) = self.firstargs.iter().find(|(i, _)| *i == id) {
                    for a in args {
                        rules.push('+');
                        rules.push_str(c.meta.name);
                        rules.push('|');
                        rules.push_str(a);
                        rules.push(' ');
                    }
                }
            }
        }
        rules.pop();
        rules
    }

    /// (allowed, denied) commands of a category, subcommands included.
    fn count_category(&self, cat: u32) -> (usize, usize) {
        let (mut on, mut off) = (0, 0);
        for (id, c) in table().commands.iter().enumerate() {
            if c.categories & cat != 0 {
                if self.allowed.get(id) {
                    on += 1;
                } else {
                    off += 1;
                }
            }
        }
        (on, off)
    }

    /// The whole selector as `ACL LIST` prints it.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let keys = self.describe_keys();
        if !keys.is_empty() {
            s.push_str(&keys);
            s.push(' ');
        }
        if self.allchannels {
            s.push_str("&* ");
        } else {
            s.push_str("resetchannels ");
            for c in &self.channels {
                s.push('&');
                s.push_str(&String::from_utf8_lossy(c));
                s.push(' ');
            }
        }
        s.push_str(&self.describe_commands());
        s
    }

    /// Whether this selector allows everything (the hot-path shortcut).
    pub fn unrestricted(&self) -> bool {
        self.allcommands && self.allkeys && self.allchannels
    }
}

pub const ERR_UNKNOWN_CMD: &str = "Unknown command or category name in ACL";
pub const ERR_SYNTAX: &str = "Syntax error";
pub const ERR_KEY_AFTER_ALL: &str = "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns";
pub const ERR_CHANNEL_AFTER_ALL: &str = "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels";
pub const ERR_NO_SUCH_PASSWORD: &str =
    "The password you are trying to remove from the user does not exist";
pub const ERR_BAD_HASH: &str = "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters";
pub const ERR_FIRSTARG_OF_SUB: &str = "Allowing first-arg of a subcommand is not supported";

/// Whether payload sanitization was asked for explicitly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sanitize {
    Default,
    Sanitize,
    Skip,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: Vec<u8>,
    pub enabled: bool,
    pub nopass: bool,
    pub sanitize: Sanitize,
    /// SHA-256 hashes in lower-case hex, in the order added.
    pub passwords: Vec<String>,
    /// The root selector first, then the `(...)` selectors.
    pub selectors: Vec<Selector>,
    /// Cached: one selector that allows everything.
    pub unrestricted: bool,
}

/// SHA-256 of a password in lower-case hex, as Redis stores it.
pub fn hash_password(pw: &[u8]) -> String {
    let d = Sha256::digest(pw);
    let mut s = String::with_capacity(64);
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn valid_hash(h: &[u8]) -> bool {
    h.len() == 64 && h.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

impl User {
    /// A new user as `ACL SETUSER name` creates it: off, no passwords, no
    /// commands, no keys, channels per `acl-pubsub-default`.
    pub fn new(name: &[u8], allchannels: bool) -> User {
        User {
            name: name.to_vec(),
            enabled: false,
            nopass: false,
            sanitize: Sanitize::Default,
            passwords: Vec::new(),
            selectors: vec![Selector::new(allchannels)],
            unrestricted: false,
        }
    }

    /// The default user of a fresh server: on, nopass, everything allowed.
    pub fn new_default() -> User {
        let mut u = User::new(b"default", false);
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            u.apply(op.as_bytes(), false).ok();
        }
        u
    }

    pub fn root(&self) -> &Selector {
        &self.selectors[0]
    }

    /// Applies one rule word (selectors arrive whole, `(...)`). Errors are
    /// Redis's reason texts.
    pub fn apply(&mut self, op: &[u8], allchannels_default: bool) -> Result<(), &'static str> {
        let r = self.apply_inner(op, allchannels_default);
        self.unrestricted = self.selectors.iter().any(Selector::unrestricted);
        r
    }

    fn apply_inner(&mut self, op: &[u8], allchannels_default: bool) -> Result<(), &'static str> {
        // An empty word is no rule at all, as in Redis.
        if op.is_empty() {
            return Ok(());
        }
        let lower = op.to_ascii_lowercase();
        match lower.as_slice() {
            b"on" => self.enabled = true,
            b"off" => self.enabled = false,
            b"skip-sanitize-payload" => self.sanitize = Sanitize::Skip,
            b"sanitize-payload" => self.sanitize = Sanitize::Sanitize,
            b"nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            b"resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            b"clearselectors" => self.selectors.truncate(1),
            b"reset" => {
                for op in ["resetpass", "resetkeys", "resetchannels"] {
                    self.apply_inner(op.as_bytes(), allchannels_default)?;
                }
                if allchannels_default {
                    self.apply_inner(b"allchannels", allchannels_default)?;
                }
                for op in ["off", "sanitize-payload", "clearselectors", "-@all"] {
                    self.apply_inner(op.as_bytes(), allchannels_default)?;
                }
            }
            _ => match op.first() {
                Some(b'>') => {
                    let h = hash_password(&op[1..]);
                    if !self.passwords.contains(&h) {
                        self.passwords.push(h);
                    }
                    self.nopass = false;
                }
                Some(b'#') => {
                    if !valid_hash(&op[1..]) {
                        return Err(ERR_BAD_HASH);
                    }
                    let h = String::from_utf8_lossy(&op[1..]).into_owned();
                    if !self.passwords.contains(&h) {
                        self.passwords.push(h);
                    }
                    self.nopass = false;
                }
                Some(b'<') => self.remove_password(&hash_password(&op[1..]))?,
                Some(b'!') => {
                    if !valid_hash(&op[1..]) {
                        return Err(ERR_BAD_HASH);
                    }
                    self.remove_password(&String::from_utf8_lossy(&op[1..]))?
                }
                Some(b'(') if op.last() == Some(&b')') && op.len() >= 2 => {
                    let mut sel = Selector::new(allchannels_default);
                    let inner = &op[1..op.len() - 1];
                    for word in inner.split(|&b| b == b' ').filter(|w| !w.is_empty()) {
                        sel.apply(word)?;
                    }
                    self.selectors.push(sel);
                }
                _ => self.selectors[0].apply(op)?,
            },
        }
        Ok(())
    }

    fn remove_password(&mut self, h: &str) -> Result<(), &'static str> {
        match self.passwords.iter().position(|p| p == h) {
            Some(i) => {
                self.passwords.remove(i);
                self.nopass = false;
                Ok(())
            }
            None => Err(ERR_NO_SUCH_PASSWORD),
        }
    }

    /// Flags as `ACL GETUSER` lists them, in Redis's order.
    pub fn flag_names(&self) -> Vec<&'static str> {
        let mut v = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            v.push("nopass");
        }
        match self.sanitize {
            Sanitize::Skip => v.push("skip-sanitize-payload"),
            Sanitize::Sanitize => v.push("sanitize-payload"),
            Sanitize::Default => {}
        }
        v
    }

    /// The rules after `user NAME` in `ACL LIST` and ACL files.
    pub fn describe(&self) -> String {
        let mut s = self.flag_names().join(" ");
        for p in &self.passwords {
            s.push_str(" #");
            s.push_str(p);
        }
        s.push(' ');
        s.push_str(&self.root().describe());
        for sel in &self.selectors[1..] {
            s.push_str(" (");
            s.push_str(&sel.describe());
            s.push(')');
        }
        s
    }

    /// Whether `pass` opens this user (enabled, and nopass or a matching
    /// hash).
    pub fn check_password(&self, pass: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let h = hash_password(pass);
        // Compare every stored hash in full, so timing says nothing about
        // which one (if any) matched.
        let mut ok = false;
        for p in &self.passwords {
            let same = p
                .bytes()
                .zip(h.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
            ok |= same && p.len() == h.len();
        }
        ok
    }

    /// Every channel pattern of every selector (for deciding whether
    /// subscribers must be disconnected after a change).
    pub fn any_allchannels(&self) -> bool {
        self.selectors.iter().any(|s| s.allchannels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described(rules: &[&str]) -> String {
        let mut u = User::new(b"u", false);
        for r in rules {
            u.apply(r.as_bytes(), false).unwrap();
        }
        u.describe()
    }

    #[test]
    fn descriptions_pick_the_best_categories_then_single_commands() {
        assert_eq!(described(&[]), "off resetchannels -@all");
        assert_eq!(
            described(&["+@all", "-get"]),
            "off resetchannels +@all -get"
        );
        assert_eq!(
            described(&["+@hash", "-hset"]),
            "off resetchannels -@all +@hash -hset"
        );
        // Best fit first, then what is left (as Redis 7.0.15 prints it).
        assert!(described(&["+@read", "-@hash", "+hget"])
            .starts_with("off resetchannels -@all +@bitmap +@geo +@set +@sortedset -bitfield"));
        // Categories already covered do not count again.
        assert_eq!(
            described(&["+@read", "-@hash", "+hget", "+@hash"]),
            "off resetchannels -@all +@read +hdel +hincrby +hincrbyfloat +hmset +hset +hsetnx"
        );
        assert_eq!(
            described(&["+config|get"]),
            "off resetchannels -@all +config|get"
        );
        assert_eq!(
            described(&["+config", "-config|set"]),
            "off resetchannels -@all +config -config|set"
        );
        assert_eq!(
            described(&["+select|0", "+select|1"]),
            "off resetchannels -@all +select|0 +select|1"
        );
        assert_eq!(
            described(&["+select|0", "+select"]),
            "off resetchannels -@all +select"
        );
    }

    #[test]
    fn keys_channels_passwords_and_flags() {
        assert_eq!(
            described(&["on", "nopass", "%rw~a", "%R~b", "~b", "%W~c", "&x", "&x"]),
            "on nopass ~a ~b %W~c resetchannels &x -@all"
        );
        assert_eq!(
            described(&["allkeys", "allchannels", "allcommands"]),
            "off ~* &* +@all"
        );
        let mut u = User::new(b"u", false);
        assert_eq!(u.apply(b"allkeys", false), Ok(()));
        assert_eq!(u.apply(b"~a", false), Err(ERR_KEY_AFTER_ALL));
        assert_eq!(u.apply(b"<nope", false), Err(ERR_NO_SUCH_PASSWORD));
        assert_eq!(u.apply(b"#ABC", false), Err(ERR_BAD_HASH));
        u.apply(b">pw", false).unwrap();
        u.apply(b"on", false).unwrap();
        assert!(u.check_password(b"pw"));
        assert!(!u.check_password(b"other"));
        u.apply(b"off", false).unwrap();
        assert!(!u.check_password(b"pw"));
    }
}
