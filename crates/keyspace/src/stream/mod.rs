//! Streams: an append-only log of entries (an ID and field/value pairs)
//! plus its consumer groups, as Redis 7.0 keeps them.
//!
//! - [`id`]: entry IDs and their (quirky) text form.
//! - [`node`]: a node of consecutive entries packed in one buffer; the
//!   log is an ordered map of nodes keyed by the ID their first entry had
//!   when the node was created (Redis's radix tree of listpacks, keyed by
//!   the "master ID"). A node is full under the same rule as Redis's
//!   (`stream-node-max-bytes` measured as Redis's listpack would be, and
//!   `stream-node-max-entries`), so `MAXLEN ~`/`MINID ~` drop the same
//!   entries, whole nodes at a time, and `XINFO STREAM` reports the same
//!   `radix-tree-keys`.
//! - [`log`]: the entries and the counters Redis keeps beside them
//!   (length, last ID, first ID, largest deleted ID, entries added):
//!   append, range walks, delete, trim, and the estimates consumer groups
//!   derive their lag from.
//! - [`cgroup`]: consumer groups: last delivered ID, read counter, the
//!   pending entries list (PEL) and the consumers.
//! - [`rax`]: how many nodes Redis's radix tree would have
//!   (`radix-tree-nodes`).
//!
//! This module knows nothing of commands or replies; the command family
//! (`families::streams`) decides what to answer and what to propagate.

pub mod cgroup;
pub mod id;
pub mod log;
pub mod node;
mod rax;

pub use cgroup::{Consumer, ConsumerRef, Group, Nack};
pub use id::{parse_id, IdSyntax, ParsedId, StreamId};
pub use log::{AddError, Entry, IdSpec, Log, Range, Trim};
pub use node::Elem;

use std::collections::BTreeMap;

/// How big a node may grow before a new one starts
/// (`stream-node-max-bytes`, `stream-node-max-entries`; 0 = no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLimits {
    pub max_bytes: u64,
    pub max_entries: u64,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            max_bytes: 4096,
            max_entries: 100,
        }
    }
}

/// A stream value: the log and its consumer groups (by name, in byte
/// order, as Redis's radix tree lists them).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stream {
    log: Log,
    groups: BTreeMap<Box<[u8]>, Group>,
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    /// Entries in the stream (tombstones excluded).
    pub fn len(&self) -> u64 {
        self.log.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        "stream"
    }

    pub fn log(&self) -> &Log {
        &self.log
    }

    pub fn log_mut(&mut self) -> &mut Log {
        &mut self.log
    }

    /// The log to read and the groups to update, at once (a group read
    /// walks the log while it moves the group forward).
    pub fn parts_mut(&mut self) -> (&Log, &mut BTreeMap<Box<[u8]>, Group>) {
        (&self.log, &mut self.groups)
    }

    pub fn groups(&self) -> &BTreeMap<Box<[u8]>, Group> {
        &self.groups
    }

    pub fn group(&self, name: &[u8]) -> Option<&Group> {
        self.groups.get(name)
    }

    pub fn group_mut(&mut self, name: &[u8]) -> Option<&mut Group> {
        self.groups.get_mut(name)
    }

    /// Creates a group; false when one of that name exists.
    pub fn create_group(&mut self, name: &[u8], last_id: StreamId, entries_read: i64) -> bool {
        if self.groups.contains_key(name) {
            return false;
        }
        self.groups
            .insert(name.into(), Group::new(last_id, entries_read));
        true
    }

    /// Removes a group; false when there was none.
    pub fn destroy_group(&mut self, name: &[u8]) -> bool {
        self.groups.remove(name).is_some()
    }

    /// Bytes on the heap, for `MEMORY USAGE` (node buffers, plus the
    /// ordered maps' nodes counted at their element size).
    pub fn heap_size(&self) -> usize {
        std::mem::size_of::<Stream>()
            + self.log.heap_size()
            + self
                .groups
                .iter()
                .map(|(n, g)| n.len() + g.heap_size())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests;
