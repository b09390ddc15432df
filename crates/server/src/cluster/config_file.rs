//! `nodes.conf` (`cluster-config-file`): loaded at start-up, created when
//! missing, and rewritten after every change of the cluster state. A save
//! writes a temporary file in the same directory, fsyncs it, renames it
//! over the old one and fsyncs the directory, so a crash leaves either the
//! old or the new file whole (Redis 7.0 rewrites the file in place). The
//! file is locked (`flock`) so a second process started on the same
//! directory refuses to run, as Redis does.

use cluster::conf;
use cluster::ClusterState;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

pub struct NodesFile {
    path: PathBuf,
    /// The open, locked file (kept for the lock).
    lock: Option<File>,
    /// The epochs (current, last vote, ours) the last fsync'd save held.
    synced_epochs: Option<(u64, u64, u64)>,
}

fn lock(f: &File) -> bool {
    // SAFETY: flock on a descriptor we own; no memory is involved.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

fn already_used(path: &Path) -> String {
    format!(
        "Sorry, the cluster configuration file {} is already used by a different Redis Cluster node. Please make sure that different nodes use different cluster configuration files.",
        path.display()
    )
}

impl NodesFile {
    /// Opens (creating if needed) and locks the file, and returns the state
    /// it holds, or a fresh one with a new random name when it is empty.
    pub fn open(path: &str, now: u64) -> Result<(NodesFile, ClusterState), String> {
        let path = PathBuf::from(path);
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| {
                format!(
                    "Can't open {} in order to acquire a lock: {e}",
                    path.display()
                )
            })?;
        if !lock(&f) {
            return Err(already_used(&path));
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("Can't read {}: {e}", path.display()))?;
        let state = if text.trim().is_empty() {
            ClusterState::new(cluster::node::random_name(), now)
        } else {
            conf::parse_config(&text, now).map_err(|e| {
                format!(
                    "Unrecoverable error: corrupted cluster config file \"{}\" at line {}: {}",
                    path.display(),
                    e.line,
                    e.reason
                )
            })?
        };
        Ok((
            NodesFile {
                path,
                lock: Some(f),
                synced_epochs: None,
            },
            state,
        ))
    }

    /// Whether the epochs (current, last vote, ours) differ from those of
    /// the last fsync'd save.
    pub fn epochs_changed(&self, st: &ClusterState) -> bool {
        self.synced_epochs != Some(Self::epochs(st))
    }

    fn epochs(st: &ClusterState) -> (u64, u64, u64) {
        (st.current_epoch, st.last_vote_epoch, st.me().config_epoch)
    }

    /// Writes the state (temp file, fsync when the epochs changed, rename,
    /// fsync of the directory with it)
    /// and moves the lock to the new file.
    pub fn save(&mut self, st: &ClusterState) -> std::io::Result<()> {
        let text = conf::config_text(st);
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!("temp-{}.{}", std::process::id(), name));
        // Epochs and votes must survive a crash (a node must never vote
        // twice in an epoch, nor reuse a config epoch), so a save that
        // changes them is fsync'd; a change of slots or addresses alone is
        // only renamed into place, as Redis fsyncs only its
        // CLUSTER_TODO_FSYNC_CONFIG saves. A resharding saves per slot.
        let epochs = Self::epochs(st);
        let durable = self.synced_epochs != Some(epochs);
        {
            let mut f = File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            if durable {
                f.sync_all()?;
            }
        }
        std::fs::rename(&tmp, &self.path)?;
        if durable {
            if let Ok(d) = File::open(&dir) {
                let _ = d.sync_all();
            }
            self.synced_epochs = Some(epochs);
        }
        let f = File::open(&self.path)?;
        if lock(&f) {
            self.lock = Some(f);
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_save_records_the_epochs_so_only_epoch_changes_need_one_at_once() {
        let dir = std::env::temp_dir().join(format!("redoubt-nodes-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("nodes.conf");
        let (mut file, mut st) = NodesFile::open(path.to_str().unwrap(), 1).unwrap();
        assert!(file.epochs_changed(&st));
        file.save(&st).unwrap();
        assert!(!file.epochs_changed(&st));
        // A change of slots alone may wait for the cron's save...
        st.add_slot(7, &st.myself.clone());
        assert!(!file.epochs_changed(&st));
        // ...one of an epoch may not.
        st.current_epoch += 1;
        assert!(file.epochs_changed(&st));
        file.save(&st).unwrap();
        assert!(!file.epochs_changed(&st));
        assert!(std::fs::read_to_string(&path).unwrap().contains(" 7\n"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
