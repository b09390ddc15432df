//! Small helpers shared by several command families.

pub mod glob;
pub mod hll;
pub mod long_double;
