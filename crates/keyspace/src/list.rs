//! Lists. Redis 7.0 reports every list as `quicklist`.

use std::collections::VecDeque;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct List {
    pub items: VecDeque<Box<[u8]>>,
}

impl List {
    pub fn new() -> List {
        List::default()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    pub fn heap_size(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<Box<[u8]>>()
            + self.items.iter().map(|i| i.len()).sum::<usize>()
    }
}
