//! Consumer groups: where a group stands in the log (last delivered ID and
//! its read counter), the entries delivered and not yet acknowledged (the
//! pending entries list, PEL), and the consumers that received them.
//!
//! Redis shares each pending entry (`streamNACK`) between the group's PEL
//! and its owner's PEL. Here the group's PEL owns the entry and names its
//! owner by a small handle ([`ConsumerRef`], an index into the group's
//! consumer slots); each consumer keeps the set of IDs it owns, so both
//! walks Redis offers (by group, by consumer) stay ordered scans.

use super::id::StreamId;
use super::log::Log;
use std::collections::{BTreeMap, BTreeSet};

/// A consumer of a group, by slot.
pub type ConsumerRef = u32;

/// A delivered, unacknowledged entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nack {
    /// Unix ms of the last delivery.
    pub delivery_time: i64,
    pub delivery_count: u64,
    /// The consumer it was last delivered to (None only while loading or
    /// while XCLAIM FORCE creates it).
    pub consumer: Option<ConsumerRef>,
}

/// A consumer: its name, when it was last active, what it owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    pub name: Box<[u8]>,
    /// Unix ms (`seen-time`; `idle` is measured from it).
    pub seen_time: i64,
    pel: BTreeSet<StreamId>,
}

impl Consumer {
    /// IDs this consumer owns, in order.
    pub fn pending(&self) -> &BTreeSet<StreamId> {
        &self.pel
    }
}

/// A consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Entries up to this ID were delivered to someone.
    pub last_id: StreamId,
    /// The read counter of `last_id` (-1 when unknown).
    pub entries_read: i64,
    pel: BTreeMap<StreamId, Nack>,
    /// Consumers by name (Redis lists them in byte order).
    names: BTreeMap<Box<[u8]>, ConsumerRef>,
    slots: Vec<Option<Consumer>>,
    free: Vec<ConsumerRef>,
}

/// `entries_read` of a group whose position is unknown.
pub const ENTRIES_READ_UNKNOWN: i64 = -1;

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            names: BTreeMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    pub(crate) fn heap_size(&self) -> usize {
        let nack = std::mem::size_of::<StreamId>() + std::mem::size_of::<Nack>();
        let consumers: usize = self
            .consumers()
            .map(|c| c.name.len() * 2 + 8 + c.pel.len() * std::mem::size_of::<StreamId>() * 3 / 2)
            .sum();
        self.pel.len() * nack * 3 / 2
            + consumers
            + self.slots.capacity() * std::mem::size_of::<Option<Consumer>>()
    }

    // -----------------------------------------------------------------------
    // Position
    // -----------------------------------------------------------------------

    /// Moves the group past `id` when `id` is beyond its last delivered ID,
    /// keeping the read counter as Redis does: incremented while it is
    /// valid and no tombstone lies ahead, else re-estimated. Returns
    /// whether the group moved.
    pub fn advance(&mut self, log: &Log, id: StreamId) -> bool {
        if id <= self.last_id {
            return false;
        }
        if self.entries_read != ENTRIES_READ_UNKNOWN && !log.range_has_tombstones(id, StreamId::MAX)
        {
            self.entries_read += 1;
        } else if log.entries_added() != 0 {
            self.entries_read = log.estimate_distance(id);
        }
        self.last_id = id;
        true
    }

    /// Entries not yet delivered to the group, when that can be known
    /// (`lag` in XINFO).
    pub fn lag(&self, log: &Log) -> Option<i64> {
        let added = log.entries_added() as i64;
        if log.entries_added() == 0 {
            return Some(0);
        }
        if self.entries_read != ENTRIES_READ_UNKNOWN
            && !log.range_has_tombstones(self.last_id, StreamId::MAX)
        {
            return Some(added.wrapping_sub(self.entries_read));
        }
        match log.estimate_distance(self.last_id) {
            ENTRIES_READ_UNKNOWN => None,
            read => Some(added.wrapping_sub(read)),
        }
    }

    // -----------------------------------------------------------------------
    // Consumers
    // -----------------------------------------------------------------------

    pub fn consumer_count(&self) -> usize {
        self.names.len()
    }

    /// Consumers in name order.
    pub fn consumers(&self) -> impl Iterator<Item = &Consumer> {
        self.names
            .values()
            .filter_map(|&r| self.slots.get(r as usize).and_then(Option::as_ref))
    }

    pub fn find_consumer(&self, name: &[u8]) -> Option<ConsumerRef> {
        self.names.get(name).copied()
    }

    pub fn consumer(&self, r: ConsumerRef) -> Option<&Consumer> {
        self.slots.get(r as usize).and_then(Option::as_ref)
    }

    fn consumer_mut(&mut self, r: ConsumerRef) -> Option<&mut Consumer> {
        self.slots.get_mut(r as usize).and_then(Option::as_mut)
    }

    /// Marks the consumer active now (a look-up that refreshes).
    pub fn touch(&mut self, r: ConsumerRef, now_ms: i64) {
        if let Some(c) = self.consumer_mut(r) {
            c.seen_time = now_ms;
        }
    }

    /// Creates a consumer; None when one of that name exists.
    pub fn create_consumer(&mut self, name: &[u8], now_ms: i64) -> Option<ConsumerRef> {
        if self.names.contains_key(name) {
            return None;
        }
        let c = Consumer {
            name: name.into(),
            seen_time: now_ms,
            pel: BTreeSet::new(),
        };
        let r = match self.free.pop() {
            Some(r) => {
                if let Some(slot) = self.slots.get_mut(r as usize) {
                    *slot = Some(c);
                }
                r
            }
            None => {
                self.slots.push(Some(c));
                (self.slots.len() - 1) as ConsumerRef
            }
        };
        self.names.insert(name.into(), r);
        Some(r)
    }

    /// Deletes a consumer and its pending entries; returns how many it had.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let r = self.names.remove(name)?;
        let c = self.slots.get_mut(r as usize).and_then(Option::take)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        self.free.push(r);
        Some(c.pel.len())
    }

    /// The name of a pending entry's owner.
    pub fn owner_name(&self, nack: &Nack) -> &[u8] {
        nack.consumer
            .and_then(|r| self.consumer(r))
            .map_or(&b""[..], |c| &c.name)
    }

    // -----------------------------------------------------------------------
    // Pending entries
    // -----------------------------------------------------------------------

    /// The group's PEL, in ID order.
    pub fn pel(&self) -> &BTreeMap<StreamId, Nack> {
        &self.pel
    }

    pub fn pending_count(&self) -> usize {
        self.pel.len()
    }

    pub fn nack(&self, id: StreamId) -> Option<&Nack> {
        self.pel.get(&id)
    }

    /// Records a delivery of `id` to `to` by XREADGROUP: a new pending
    /// entry, or one another consumer held given to `to` with its count
    /// reset (XGROUP SETID can make a group deliver an entry again).
    pub fn deliver(&mut self, id: StreamId, to: ConsumerRef, now_ms: i64) -> Nack {
        let nack = Nack {
            delivery_time: now_ms,
            delivery_count: 1,
            consumer: Some(to),
        };
        if let Some(old) = self.pel.insert(id, nack) {
            if let Some(prev) = old.consumer.and_then(|r| self.consumer_mut(r)) {
                prev.pel.remove(&id);
            }
        }
        if let Some(c) = self.consumer_mut(to) {
            c.pel.insert(id);
        }
        nack
    }

    /// A history read of `id` by its owner: one more delivery, now.
    pub fn redeliver(&mut self, id: StreamId, now_ms: i64) {
        if let Some(n) = self.pel.get_mut(&id) {
            n.delivery_time = now_ms;
            n.delivery_count += 1;
        }
    }

    /// Acknowledges `id`; false when it was not pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(nack) = self.pel.remove(&id) else {
            return false;
        };
        if let Some(c) = nack.consumer.and_then(|r| self.consumer_mut(r)) {
            c.pel.remove(&id);
        }
        true
    }

    /// Creates a pending entry owned by nobody yet (XCLAIM FORCE), unless
    /// one exists.
    pub fn force_pending(&mut self, id: StreamId, now_ms: i64) {
        self.pel.entry(id).or_insert(Nack {
            delivery_time: now_ms,
            delivery_count: 1,
            consumer: None,
        });
    }

    /// Gives the pending entry `id` to `to` (XCLAIM, XAUTOCLAIM) with a new
    /// delivery time and count; returns the updated entry.
    pub fn claim(&mut self, id: StreamId, to: ConsumerRef, time: i64, count: u64) -> Option<Nack> {
        let nack = self.pel.get_mut(&id)?;
        let prev = nack.consumer;
        nack.delivery_time = time;
        nack.delivery_count = count;
        nack.consumer = Some(to);
        let nack = *nack;
        if prev != Some(to) {
            if let Some(c) = prev.and_then(|r| self.consumer_mut(r)) {
                c.pel.remove(&id);
            }
            if let Some(c) = self.consumer_mut(to) {
                c.pel.insert(id);
            }
        }
        Some(nack)
    }

    // -----------------------------------------------------------------------
    // Loading (RDB files carry the PEL first, then each consumer's IDs)
    // -----------------------------------------------------------------------

    /// Adds a pending entry without owner; false when `id` is pending.
    pub fn load_pending(&mut self, id: StreamId, delivery_time: i64, delivery_count: u64) -> bool {
        if self.pel.contains_key(&id) {
            return false;
        }
        self.pel.insert(
            id,
            Nack {
                delivery_time,
                delivery_count,
                consumer: None,
            },
        );
        true
    }

    /// Gives a loaded pending entry its owner. Errors name what is wrong
    /// with the file.
    pub fn load_owner(&mut self, id: StreamId, r: ConsumerRef) -> Result<(), &'static str> {
        let nack = self
            .pel
            .get_mut(&id)
            .ok_or("Consumer entry not found in group global PEL")?;
        if nack.consumer.is_some() {
            return Err("Stream consumer PEL entry already has a consumer assigned");
        }
        nack.consumer = Some(r);
        let inserted = self.consumer_mut(r).is_some_and(|c| c.pel.insert(id));
        if inserted {
            Ok(())
        } else {
            Err("Duplicated consumer PEL entry loading a stream consumer group")
        }
    }

    /// Whether every pending entry has an owner (a loaded file's check).
    pub fn all_owned(&self) -> bool {
        self.pel.values().all(|n| n.consumer.is_some())
    }
}
