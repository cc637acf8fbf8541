//! The RFC 9162 Merkle frontier (`services.audit.domain.frontier.MerkleFrontier`): the roots of the
//! perfect subtrees covering leaves [0, size), one per 1-bit of size, largest first. Appending a leaf
//! (`SHA-256(0x00 || entry_hash)`) merges equal-sized neighbours (`SHA-256(0x01 || left || right)`)
//! like a binary counter carry.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

pub struct Frontier {
    pub size: u64,
    pub hashes: Vec<Hash>,
    /// `(level, index, root)` of every perfect subtree of `2^level >= 2^min_level` leaves completed so
    /// far; it covers leaves `[index * 2^level, (index + 1) * 2^level)`.
    pub completed: Vec<(u32, u64, Hash)>,
    min_level: u32,
}

impl Frontier {
    pub fn new(size: u64, hashes: Vec<Hash>, min_level: u32) -> Result<Self, String> {
        if hashes.len() != size.count_ones() as usize {
            return Err(format!(
                "a frontier of size {} holds {} hashes, got {}",
                size,
                size.count_ones(),
                hashes.len()
            ));
        }
        Ok(Frontier {
            size,
            hashes,
            completed: Vec::new(),
            min_level,
        })
    }

    /// Append one entry hash as the next leaf.
    pub fn append(&mut self, entry_hash: &Hash) {
        let mut node: Hash = Sha256::new()
            .chain_update([0u8])
            .chain_update(entry_hash)
            .finalize()
            .into();
        let mut n = self.size;
        let mut level = 0u32;
        self.size += 1;
        while n & 1 == 1 {
            let left = self.hashes.pop().expect("one hash per 1-bit of size");
            node = Sha256::new()
                .chain_update([1u8])
                .chain_update(left)
                .chain_update(node)
                .finalize()
                .into();
            n >>= 1;
            level += 1;
            if level >= self.min_level {
                self.completed.push((level, (self.size >> level) - 1, node));
            }
        }
        self.hashes.push(node);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(h: &Hash) -> Hash {
        Sha256::new()
            .chain_update([0u8])
            .chain_update(h)
            .finalize()
            .into()
    }

    fn node(l: &Hash, r: &Hash) -> Hash {
        Sha256::new()
            .chain_update([1u8])
            .chain_update(l)
            .chain_update(r)
            .finalize()
            .into()
    }

    #[test]
    fn three_leaves_then_a_fourth_completes_a_level_two_subtree() {
        let hs: Vec<Hash> = (0u8..4).map(|i| [i; 32]).collect();
        let mut f = Frontier::new(0, Vec::new(), 2).unwrap();
        for h in &hs[..3] {
            f.append(h);
        }
        assert_eq!(
            f.hashes,
            vec![node(&leaf(&hs[0]), &leaf(&hs[1])), leaf(&hs[2])]
        );
        assert!(f.completed.is_empty());
        f.append(&hs[3]);
        let root = node(
            &node(&leaf(&hs[0]), &leaf(&hs[1])),
            &node(&leaf(&hs[2]), &leaf(&hs[3])),
        );
        assert_eq!(f.hashes, vec![root]);
        assert_eq!(f.completed, vec![(2, 0, root)]);
    }

    #[test]
    fn refuses_a_frontier_of_the_wrong_length() {
        assert!(Frontier::new(3, vec![[0; 32]], 1).is_err());
    }
}
