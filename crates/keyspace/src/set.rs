//! Sets: `intset` while every member is an integer and the set is small,
//! `hashtable` otherwise, as Redis 7.0 reports them.

use foldhash::fast::RandomState;
use indexmap::IndexSet;

#[derive(Debug, Clone, PartialEq)]
pub enum Set {
    /// Sorted integers.
    Intset(Vec<i64>),
    Table(IndexSet<Box<[u8]>, RandomState>),
}

impl Default for Set {
    fn default() -> Self {
        Set::Intset(Vec::new())
    }
}

impl Set {
    pub fn new() -> Set {
        Set::default()
    }

    pub fn len(&self) -> usize {
        match self {
            Set::Intset(v) => v.len(),
            Set::Table(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Intset(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }

    pub fn heap_size(&self) -> usize {
        match self {
            Set::Intset(v) => v.capacity() * 8,
            Set::Table(s) => s.iter().map(|m| m.len() + 24).sum(),
        }
    }
}
