//! Small helpers shared by command families.

pub mod long_double;
