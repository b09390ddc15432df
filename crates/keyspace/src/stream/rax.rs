//! The node count of Redis's radix tree over a stream's node keys
//! (`radix-tree-nodes` in XINFO STREAM).
//!
//! Redis keeps its radix tree compressed: a chain of nodes that are not
//! keys and have one child is one node, and removals merge chains again.
//! The shape is then a function of the set of keys alone, so it can be
//! counted from the sorted keys: the root (always present), a node where
//! keys branch, a compressed node for each run of shared bytes below a
//! branch, and a leaf for each key (keys are 16 bytes, so none is a
//! prefix of another).

/// Nodes in a compressed radix tree holding `keys` (sorted, distinct).
pub fn node_count(keys: &[[u8; 16]]) -> usize {
    if keys.is_empty() {
        // An empty tree is its root alone.
        return 1;
    }
    subtree(keys, 0)
}

/// Nodes of the subtree for `keys`, whose first node starts at byte
/// `depth` (the bytes before are consumed by the parent).
fn subtree(keys: &[[u8; 16]], depth: usize) -> usize {
    if keys.len() == 1 {
        // The remaining bytes as one compressed node, then the key's leaf.
        return if depth == 16 { 1 } else { 2 };
    }
    let (first, last) = (&keys[0], &keys[keys.len() - 1]);
    // Sorted keys: what the first and last share, all share.
    let mut branch = depth;
    while branch < 16 && first[branch] == last[branch] {
        branch += 1;
    }
    // A compressed node for the shared bytes, if any, then the branch.
    let mut count = usize::from(branch > depth) + 1;
    let mut i = 0;
    while i < keys.len() {
        let b = keys[i][branch];
        let mut j = i + 1;
        while j < keys.len() && keys[j][branch] == b {
            j += 1;
        }
        count += subtree(&keys[i..j], branch + 1);
        i = j;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ms: u64, seq: u64) -> [u8; 16] {
        crate::stream::StreamId::new(ms, seq).to_be_bytes()
    }

    #[test]
    fn counts_like_a_compressed_radix_tree() {
        assert_eq!(node_count(&[]), 1);
        // Root compressed over 16 bytes, then the leaf.
        assert_eq!(node_count(&[key(1, 1)]), 2);
        // Shared 15 bytes (compressed root), a branch, two leaves.
        assert_eq!(node_count(&[key(1, 1), key(1, 2)]), 4);
        // Keys differing in the first byte: the root branches; each child
        // is a compressed run and a leaf.
        assert_eq!(node_count(&[key(1, 0), key(1 << 56, 0)]), 5);
    }
}
