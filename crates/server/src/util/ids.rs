//! Random identifiers in the form Redis uses: lower-case hex strings, as
//! run ids and replication ids (40 characters), Sentinel ids and
//! `ACL GENPASS` passwords.

use rand::Rng;

/// `len` random lower-case hex characters from `rng`.
pub fn random_hex<R: Rng + ?Sized>(rng: &mut R, len: usize) -> String {
    const HEX: &[u8] = b"0123456789abcdef";
    (0..len)
        .map(|_| char::from(HEX[rng.gen_range(0..16)]))
        .collect()
}

/// A 40-character id (run id, replication id, Sentinel id).
pub fn new_id40<R: Rng + ?Sized>(rng: &mut R) -> String {
    random_hex(rng, 40)
}
