//! Helpers shared by several command families (number formatting, geohash,
//! HyperLogLog registers, `long double` arithmetic).

pub mod double;
pub mod geohash;
pub mod hll;
pub mod long_double;
