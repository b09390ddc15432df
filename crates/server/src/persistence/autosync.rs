//! `rdb-save-incremental-fsync` and `aof-rewrite-incremental-fsync`: a
//! snapshot or an AOF rewrite being written is fsynced every 4 MB (Redis's
//! `REDIS_AUTOSYNC_BYTES`), so the kernel never holds a whole dataset of
//! dirty pages to flush at once, which would stall the disk for everyone
//! at the final fsync.

use std::fs::File;
use std::io::{self, Write};

/// Bytes written between two fsyncs.
pub const AUTOSYNC_BYTES: u64 = 4 * 1024 * 1024;

/// A file that fsyncs itself every [`AUTOSYNC_BYTES`] when `on`.
pub struct AutoSync {
    file: File,
    on: bool,
    since: u64,
    /// fsyncs done so far.
    pub syncs: u64,
}

impl AutoSync {
    pub fn new(file: File, on: bool) -> AutoSync {
        AutoSync {
            file,
            on,
            since: 0,
            syncs: 0,
        }
    }

    pub fn into_file(self) -> File {
        self.file
    }
}

impl Write for AutoSync {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        if self.on {
            self.since += n as u64;
            if self.since >= AUTOSYNC_BYTES {
                self.file.sync_data()?;
                self.since = 0;
                self.syncs += 1;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsyncs_every_four_megabytes_when_on() {
        let dir = std::env::temp_dir().join(format!("redoubt-autosync-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let chunk = vec![7u8; 1 << 20];
        for (on, expected) in [(true, 2), (false, 0)] {
            let f = File::create(dir.join("f")).expect("create");
            let mut w = AutoSync::new(f, on);
            for _ in 0..9 {
                w.write_all(&chunk).expect("write");
            }
            assert_eq!(w.syncs, expected, "on={on}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
