//! Small helpers shared by several command families.

pub mod double;
pub mod geohash;
pub mod glob;
pub mod hll;
pub mod long_double;
