//! Sorted sets: `listpack` while small, `skiplist` beyond, as Redis
//! reports them.

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZSet {
    /// (score, member) ordered by score then member bytes.
    pub items: Vec<(f64, Box<[u8]>)>,
    /// Whether Redis would report `skiplist` (converted once past the
    /// thresholds; never converted back, as in Redis).
    pub skiplist: bool,
}

impl ZSet {
    pub fn new() -> ZSet {
        ZSet::default()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn encoding(&self) -> &'static str {
        if self.skiplist {
            "skiplist"
        } else {
            "listpack"
        }
    }

    pub fn heap_size(&self) -> usize {
        self.items.iter().map(|(_, m)| m.len() + 24).sum()
    }
}
