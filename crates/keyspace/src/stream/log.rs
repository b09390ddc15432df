//! The entries of a stream and the counters kept beside them.
//!
//! Every operation follows `t_stream.c`'s rules, because clients observe
//! their consequences: which node an entry lands in (and so what `~`
//! trimming can drop), that a node whose last live entry is deleted goes
//! away while trimming only marks entries, how the first ID is kept, and
//! the estimates of an ID's position that consumer-group lag rests on.

use super::id::StreamId;
use super::node::{Node, Pairs, RawEntry, FLAG_SAMEFIELDS};
use super::NodeLimits;
use std::collections::btree_map;
use std::collections::BTreeMap;

/// Largest listpack Redis lets a node grow to, whatever the config says.
const LISTPACK_MAX_SIZE: u64 = 1 << 30;

/// The log: nodes by master ID, and the stream's counters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Log {
    nodes: BTreeMap<StreamId, Node>,
    length: u64,
    last_id: StreamId,
    first_id: StreamId,
    max_deleted: StreamId,
    entries_added: u64,
}

/// How XADD names the new entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdSpec {
    /// `*`: from the clock.
    Auto,
    /// `<ms>-*`: this time, the next free sequence.
    Ms(u64),
    /// `<ms>-<seq>`.
    Exact(StreamId),
}

/// Why an entry could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddError {
    /// The ID is not above the last one (or no sequence is left).
    NotGreater,
    /// The fields and values add up to more than a node may hold.
    TooLarge,
}

/// A trimming request (XADD/XTRIM's MAXLEN and MINID).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

impl Log {
    /// Live entries.
    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// The last ID ever added (or set with XSETID).
    pub fn last_id(&self) -> StreamId {
        self.last_id
    }

    /// The first live entry's ID as Redis records it (0-0 when empty).
    pub fn first_id(&self) -> StreamId {
        self.first_id
    }

    /// The largest ID ever deleted.
    pub fn max_deleted(&self) -> StreamId {
        self.max_deleted
    }

    /// Entries ever added.
    pub fn entries_added(&self) -> u64 {
        self.entries_added
    }

    /// Nodes (`radix-tree-keys`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Nodes Redis's radix tree would have (`radix-tree-nodes`).
    pub fn rax_nodes(&self) -> usize {
        let keys: Vec<[u8; 16]> = self.nodes.keys().map(|k| k.to_be_bytes()).collect();
        super::rax::node_count(&keys)
    }

    /// XSETID: sets the last ID, and optionally the entries added and
    /// the largest deleted ID.
    pub fn set_last_id(&mut self, id: StreamId) {
        self.last_id = id;
    }

    pub fn set_entries_added(&mut self, n: u64) {
        self.entries_added = n;
    }

    pub fn set_max_deleted(&mut self, id: StreamId) {
        self.max_deleted = id;
    }

    /// Sets the counters an RDB file carries (after its nodes are in).
    pub fn set_counters(&mut self, length: u64, first_id: StreamId) {
        self.length = length;
        self.first_id = first_id;
    }

    pub(crate) fn heap_size(&self) -> usize {
        // A B-tree node holds up to 11 keys and values; count the slots of
        // the elements at about two thirds full.
        let slot = std::mem::size_of::<StreamId>() + std::mem::size_of::<Node>();
        self.nodes
            .values()
            .map(|n| n.heap_size() + slot * 3 / 2)
            .sum()
    }

    /// The nodes in order, with their master IDs (RDB writing).
    pub fn nodes(&self) -> impl Iterator<Item = (StreamId, &Node)> {
        self.nodes.iter().map(|(k, n)| (*k, n))
    }

    /// Inserts a loaded node; false when its master ID is taken.
    pub fn insert_node(&mut self, master: StreamId, node: Node) -> bool {
        match self.nodes.entry(master) {
            btree_map::Entry::Occupied(_) => false,
            btree_map::Entry::Vacant(v) => {
                v.insert(node);
                true
            }
        }
    }

    // -----------------------------------------------------------------------
    // Adding
    // -----------------------------------------------------------------------

    /// The ID XADD would give the new entry (`streamAppendItem`'s first
    /// half): from the clock for `*`, the next sequence for `<ms>-*`.
    pub fn next_id(&self, spec: IdSpec, now_ms: u64) -> Result<StreamId, AddError> {
        let id = match spec {
            IdSpec::Auto => {
                if now_ms > self.last_id.ms {
                    StreamId::new(now_ms, 0)
                } else {
                    // Wraps to 0-0 after the last ID, refused just below.
                    self.last_id.next().unwrap_or(StreamId::MIN)
                }
            }
            IdSpec::Ms(ms) if ms == self.last_id.ms => {
                if self.last_id.seq == u64::MAX {
                    return Err(AddError::NotGreater);
                }
                StreamId::new(ms, self.last_id.seq + 1)
            }
            IdSpec::Ms(ms) => StreamId::new(ms, 0),
            IdSpec::Exact(id) => id,
        };
        if id <= self.last_id {
            return Err(AddError::NotGreater);
        }
        Ok(id)
    }

    /// Appends an entry with `id` (from [`Log::next_id`]).
    pub fn append(
        &mut self,
        id: StreamId,
        pairs: &[(&[u8], &[u8])],
        limits: NodeLimits,
    ) -> Result<(), AddError> {
        let total: u64 = pairs.iter().map(|(f, v)| (f.len() + v.len()) as u64).sum();
        if total > LISTPACK_MAX_SIZE {
            return Err(AddError::TooLarge);
        }
        let max_bytes = match limits.max_bytes {
            0 => LISTPACK_MAX_SIZE,
            n => n.min(LISTPACK_MAX_SIZE),
        };
        // Is there room in the last node? Redis's test: its listpack plus
        // the raw bytes of the new fields and values stays under the byte
        // limit, and it holds fewer entries (deleted ones count) than the
        // entry limit.
        let mut tail = self.nodes.last_entry();
        if let Some(node) = &mut tail {
            let full = node.get().lp_bytes() + total >= max_bytes
                || (limits.max_entries != 0 && node.get().total() >= limits.max_entries);
            if full {
                node.get_mut().shrink();
                tail = None;
            }
        }
        match tail {
            Some(mut node) => {
                let master = *node.key();
                let n = node.get_mut();
                let flags = if n.has_master_fields(pairs) {
                    FLAG_SAMEFIELDS
                } else {
                    0
                };
                n.push(master, id, flags, pairs);
            }
            None => {
                // Redis pre-allocates a whole node (4 KB) for the first
                // entry; a node here grows by half again as it fills, so a
                // stream of one entry costs one entry.
                self.nodes.insert(id, Node::new(id, pairs, 0));
            }
        }
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
        Ok(())
    }

    // -----------------------------------------------------------------------
    // Reading
    // -----------------------------------------------------------------------

    /// Entries with `start <= id <= end`, from the start or (`rev`) from
    /// the end; tombstones are skipped.
    pub fn range(&self, start: StreamId, end: StreamId, rev: bool) -> Range<'_> {
        Range::new(self, start, end, rev, false)
    }

    /// Every entry in order, tombstones included.
    pub fn all_with_tombstones(&self) -> Range<'_> {
        Range::new(self, StreamId::MIN, StreamId::MAX, false, true)
    }

    /// Whether a live entry with `id` exists.
    pub fn contains(&self, id: StreamId) -> bool {
        self.range(id, id, false).next().is_some()
    }

    /// The first entry's ID, tombstones included or not; None when there
    /// is none (Redis then uses the largest ID).
    pub fn first_entry_id(&self, skip_tombstones: bool) -> Option<StreamId> {
        Range::new(self, StreamId::MIN, StreamId::MAX, false, !skip_tombstones)
            .next()
            .map(|e| e.id)
    }

    /// The last live entry's ID (`streamLastValidID`).
    pub fn last_valid_id(&self) -> Option<StreamId> {
        self.range(StreamId::MIN, StreamId::MAX, true)
            .next()
            .map(|e| e.id)
    }

    // -----------------------------------------------------------------------
    // Removing
    // -----------------------------------------------------------------------

    /// Deletes the live entry `id` (XDEL); false when there is none. The
    /// caller updates the largest deleted ID and the first ID afterwards.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&master, node)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        let mut at = node.first_at();
        let found = loop {
            if at >= node.end() {
                break None;
            }
            let Some(e) = node.entry_at(master, at) else {
                break None;
            };
            if e.id == id && !e.deleted() {
                break Some(e.at);
            }
            if e.id > id {
                break None;
            }
            at = e.end;
        };
        let Some(at) = found else {
            return false;
        };
        if node.live() == 1 {
            // The last live entry of its node: the node goes.
            self.nodes.remove(&master);
        } else {
            node.mark_deleted(at);
        }
        self.length -= 1;
        true
    }

    /// Records a deletion of `id` in the counters (XDEL, once per ID).
    pub fn note_deleted(&mut self, id: StreamId) {
        if id > self.max_deleted {
            self.max_deleted = id;
        }
    }

    /// Recomputes the first ID after deletions.
    pub fn refresh_first_id(&mut self) {
        self.first_id = if self.length == 0 {
            StreamId::MIN
        } else {
            self.first_entry_id(true).unwrap_or(StreamId::MAX)
        };
    }

    /// Trims from the head (`streamTrim`) and returns how many entries
    /// went. `approx` removes whole nodes only; `limit` (0 = none) caps the
    /// entries removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted = 0u64;
        while let Some(mut slot) = self.nodes.first_entry() {
            if let Trim::MaxLen(max) = how {
                if self.length <= max {
                    break;
                }
            }
            let master = *slot.key();
            let entries = slot.get().live();
            if limit != 0 && deleted + entries > limit {
                break;
            }
            let remove = match how {
                Trim::MaxLen(max) => self.length - entries >= max,
                Trim::MinId(min) => slot
                    .get()
                    .last_entry_id(master)
                    .is_some_and(|last| last < min),
            };
            if remove {
                slot.remove();
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            // Mark entries of this node deleted until the condition holds.
            let node = slot.get_mut();
            let mut at = node.first_at();
            while at < node.end() {
                let Some(e) = node.entry_at(master, at) else {
                    break;
                };
                let stop = match how {
                    Trim::MaxLen(max) => self.length <= max,
                    Trim::MinId(min) => e.id >= min,
                };
                if stop {
                    break;
                }
                if !e.deleted() {
                    node.mark_deleted(e.at);
                    self.length -= 1;
                    deleted += 1;
                }
                at = e.end;
            }
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.first_entry_id(true).unwrap_or(StreamId::MAX);
        }
        deleted
    }

    // -----------------------------------------------------------------------
    // Positions (consumer-group read counters and lag)
    // -----------------------------------------------------------------------

    /// Whether a deleted entry may lie in `start..=end`
    /// (`streamRangeHasTombstones`).
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.length == 0 || self.max_deleted.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted {
            return false;
        }
        start <= self.max_deleted && self.max_deleted <= end
    }

    /// How many entries were added up to `id`, when that can be known
    /// (`streamEstimateDistanceFromFirstEverEntry`); -1 otherwise.
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        let added = self.entries_added as i64;
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return added;
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return added,
            std::cmp::Ordering::Greater => return -1,
            std::cmp::Ordering::Less => {}
        }
        if self.max_deleted.is_zero() || self.max_deleted < self.first_id {
            let length = self.length as i64;
            match id.cmp(&self.first_id) {
                std::cmp::Ordering::Less => return added.wrapping_sub(length),
                std::cmp::Ordering::Equal => return added.wrapping_sub(length).wrapping_add(1),
                std::cmp::Ordering::Greater => {}
            }
        }
        -1
    }
}

/// An entry met by a walk.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub id: StreamId,
    node: &'a Node,
    raw: RawEntry,
}

impl<'a> Entry<'a> {
    /// Number of field/value pairs.
    pub fn len(&self) -> usize {
        self.raw.nfields
    }

    pub fn is_empty(&self) -> bool {
        self.raw.nfields == 0
    }

    pub fn deleted(&self) -> bool {
        self.raw.deleted()
    }

    pub fn same_fields(&self) -> bool {
        self.raw.same_fields()
    }

    /// The field/value pairs.
    pub fn pairs(&self) -> Pairs<'a> {
        self.node.pairs(&self.raw)
    }
}

/// A walk over entries in ID order or in reverse.
pub struct Range<'a> {
    nodes: NodeWalk<'a>,
    /// The node being walked: its master ID, the node, and the offsets
    /// still to visit (in reverse walks) or the next offset.
    cur: Option<(StreamId, &'a Node, Cursor)>,
    start: StreamId,
    end: StreamId,
    rev: bool,
    tombstones: bool,
    done: bool,
}

enum NodeWalk<'a> {
    Fwd(btree_map::Range<'a, StreamId, Node>),
    Rev(std::iter::Rev<btree_map::Range<'a, StreamId, Node>>),
}

enum Cursor {
    Next(usize),
    Back(Vec<usize>),
}

impl<'a> Range<'a> {
    fn new(log: &'a Log, start: StreamId, end: StreamId, rev: bool, tombstones: bool) -> Range<'a> {
        // As Redis seeks its radix tree: the node at or before the bound
        // the walk starts from.
        let nodes = if rev {
            NodeWalk::Rev(log.nodes.range(..=end).rev())
        } else {
            match log.nodes.range(..=start).next_back() {
                Some((&k, _)) => NodeWalk::Fwd(log.nodes.range(k..)),
                None => NodeWalk::Fwd(log.nodes.range(..)),
            }
        };
        Range {
            nodes,
            cur: None,
            start,
            end,
            rev,
            tombstones,
            done: start > end,
        }
    }

    /// The next entry of the current node, None at its end.
    fn step(&mut self) -> Option<Entry<'a>> {
        let (master, node, cursor) = self.cur.as_mut()?;
        let at = match cursor {
            Cursor::Next(at) => {
                if *at >= node.end() {
                    return None;
                }
                *at
            }
            Cursor::Back(offsets) => offsets.pop()?,
        };
        let raw = node.entry_at(*master, at)?;
        if let Cursor::Next(next) = cursor {
            *next = raw.end;
        }
        Some(Entry {
            id: raw.id,
            node,
            raw,
        })
    }
}

impl<'a> Iterator for Range<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        while !self.done {
            let Some(e) = self.step() else {
                let next = match &mut self.nodes {
                    NodeWalk::Fwd(it) => it.next(),
                    NodeWalk::Rev(it) => it.next(),
                };
                match next {
                    Some((&master, node)) => {
                        let cursor = if self.rev {
                            Cursor::Back(node.offsets(master))
                        } else {
                            Cursor::Next(node.first_at())
                        };
                        self.cur = Some((master, node, cursor));
                        continue;
                    }
                    None => {
                        self.done = true;
                        return None;
                    }
                }
            };
            if !self.tombstones && e.deleted() {
                continue;
            }
            if self.rev {
                if e.id > self.end {
                    continue;
                }
                if e.id < self.start {
                    self.done = true;
                    return None;
                }
            } else {
                if e.id < self.start {
                    continue;
                }
                if e.id > self.end {
                    self.done = true;
                    return None;
                }
            }
            return Some(e);
        }
        None
    }
}
