//! Small helpers shared by the engine and the command families.

pub mod glob;
pub mod ids;
pub mod sparkline;
pub mod time;
