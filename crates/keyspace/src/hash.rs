//! Hashes: `listpack` while small (entries and value sizes under the
//! thresholds), `hashtable` beyond, as Redis reports them.

use foldhash::fast::RandomState;
use indexmap::IndexMap;

/// A field/value pair of a small hash.
pub type Pair = (Box<[u8]>, Box<[u8]>);

#[derive(Debug, Clone, PartialEq)]
pub enum Hash {
    /// Small hash: field/value pairs in insertion order, searched linearly.
    Listpack(Vec<Pair>),
    Table(IndexMap<Box<[u8]>, Box<[u8]>, RandomState>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Listpack(Vec::new())
    }
}

impl Hash {
    pub fn new() -> Hash {
        Hash::default()
    }

    pub fn len(&self) -> usize {
        match self {
            Hash::Listpack(v) => v.len(),
            Hash::Table(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Listpack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    pub fn heap_size(&self) -> usize {
        let pairs: usize = match self {
            Hash::Listpack(v) => v.iter().map(|(f, x)| f.len() + x.len()).sum(),
            Hash::Table(m) => m.iter().map(|(f, x)| f.len() + x.len()).sum(),
        };
        pairs + self.len() * 2 * std::mem::size_of::<Box<[u8]>>()
    }
}
