//! Small helpers shared by several command families.

pub mod double;
pub mod glob;
pub mod long_double;
