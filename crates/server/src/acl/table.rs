//! The command index the ACL rules refer to: every Redis 7.0 command and
//! subcommand from the generated metadata (served or not, and under its
//! original name even when `rename-command` moved it), each with an id
//! (its bit in a selector's bitmap) and its category bits.
//!
//! Rules name commands by what Redis calls them, so an ACL file written for
//! Redis loads here unchanged, and `+@category` covers the same commands as
//! in Redis (counts matter: `ACL LIST` picks categories by them).

use command_meta::CommandMeta;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The categories in Redis's order (`ACL CAT` lists them so, and the rule
/// describer tries them in this order).
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// Words in a command bitmap; ids beyond the bitmap are never allowed
/// individually (the table has far fewer commands).
pub const WORDS: usize = 8;

pub struct AclCommand {
    pub meta: &'static CommandMeta,
    pub parent: Option<usize>,
    pub subs: Vec<usize>,
    /// Bit `i` set when the command is in `CATEGORIES[i]`.
    pub categories: u32,
    /// `no_auth` commands (AUTH, HELLO) run whatever the rules say.
    pub no_auth: bool,
}

pub struct AclTable {
    pub commands: Vec<AclCommand>,
    by_name: HashMap<String, usize>,
}

/// Category bit of `name` (without the `@`), case-insensitively.
pub fn category_bit(name: &str) -> Option<u32> {
    CATEGORIES
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name))
        .map(|i| 1u32 << i)
}

fn categories_of(meta: &CommandMeta) -> u32 {
    meta.acl_categories
        .iter()
        .filter_map(|c| category_bit(c.trim_start_matches('@')))
        .fold(0, |a, b| a | b)
}

impl AclTable {
    fn build() -> AclTable {
        let mut t = AclTable {
            commands: Vec::new(),
            by_name: HashMap::new(),
        };
        for meta in command_meta::specs::ALL {
            let id = t.push(meta, None);
            for sub in meta.subcommands {
                let s = t.push(sub, Some(id));
                t.commands[id].subs.push(s);
            }
        }
        t
    }

    fn push(&mut self, meta: &'static CommandMeta, parent: Option<usize>) -> usize {
        let id = self.commands.len();
        self.commands.push(AclCommand {
            meta,
            parent,
            subs: Vec::new(),
            categories: categories_of(meta),
            no_auth: meta.flags.contains(&"no_auth"),
        });
        self.by_name.insert(meta.name.to_string(), id);
        id
    }

    /// Looks a command up by its full name (`get`, `config|get`),
    /// case-insensitively.
    pub fn lookup(&self, name: &str) -> Option<usize> {
        self.by_name.get(&name.to_ascii_lowercase()).copied()
    }

    /// Id of the command described by `meta` (a served command).
    pub fn id_of(&self, meta: &CommandMeta) -> Option<usize> {
        self.by_name.get(meta.name).copied()
    }
}

/// The table, built once from the static metadata.
pub fn table() -> &'static AclTable {
    static TABLE: OnceLock<AclTable> = OnceLock::new();
    TABLE.get_or_init(AclTable::build)
}

/// A command bitmap.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct Bits(pub [u64; WORDS]);

impl Bits {
    #[inline]
    pub fn get(&self, id: usize) -> bool {
        self.0
            .get(id / 64)
            .is_some_and(|w| w & (1u64 << (id % 64)) != 0)
    }

    #[inline]
    pub fn set(&mut self, id: usize, on: bool) {
        if let Some(w) = self.0.get_mut(id / 64) {
            if on {
                *w |= 1u64 << (id % 64);
            } else {
                *w &= !(1u64 << (id % 64));
            }
        }
    }

    pub fn all() -> Bits {
        Bits([u64::MAX; WORDS])
    }
}
