//! What the server asks of the operating system for its own process:
//! CPU affinity of the executor and the background threads
//! (`server_cpulist`, `bio_cpulist`, `aof_rewrite_cpulist`,
//! `bgsave_cpulist`), transparent huge pages (`disable-thp`) and the
//! OOM killer's score (`oom-score-adj`, `oom-score-adj-values`).
//!
//! Redis forks a child for BGSAVE and AOF rewrites and pins that child;
//! Redoubt has no child (see DESIGN.md), so the two child lists pin the
//! threads that do the same work here: the thread writing a snapshot's
//! file, and the one writing an AOF rewrite's base. The `bgchild` class of
//! `oom-score-adj-values` has no process to apply to.

use crate::config::{Config, Directive};
use crate::log_warning;
use std::sync::{Mutex, OnceLock};

// ------------------------------------------------------------- CPU affinity

/// Parses a CPU list as Redis's `setcpuaffinity` reads it: comma-separated
/// items `A`, `A-B` or `A-B:S` (every S-th CPU from A to B). `None` for a
/// list Redis would not apply (it then leaves the affinity alone, without a
/// word) and for an empty one.
pub fn parse_cpulist(list: &str) -> Option<Vec<usize>> {
    if list.is_empty() {
        return None;
    }
    let mut cpus = Vec::new();
    for item in list.split(',') {
        let (range, step) = match item.split_once(':') {
            Some((r, s)) if r.contains('-') => (r, number(s)?),
            Some(_) => return None,
            None => (item, 1),
        };
        let (a, b) = match range.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => (number(range)?, number(range)?),
        };
        if step == 0 || a > b {
            return None;
        }
        cpus.extend((a..=b).step_by(step));
    }
    Some(cpus)
}

fn number(s: &str) -> Option<usize> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Pins the calling thread to `cpus`; a CPU the machine does not have is
/// dropped by the kernel, a set with none left fails (and changes nothing),
/// as with Redis.
fn pin_current_thread(cpus: &[usize]) {
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET writes bits of
    // the set we own; sched_setaffinity(0, ...) reads it for this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            if c < libc::CPU_SETSIZE as usize {
                libc::CPU_SET(c, &mut set);
            }
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Which list a background thread follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadKind {
    /// Redis's bio threads: AOF writes and fsyncs, lazy freeing.
    Bio,
    /// The thread writing an AOF rewrite's base file.
    AofRewrite,
    /// The thread writing a snapshot (BGSAVE, a disk-based full sync).
    Bgsave,
}

#[derive(Debug, Default)]
struct CpuLists {
    bio: Option<Vec<usize>>,
    aof_rewrite: Option<Vec<usize>>,
    bgsave: Option<Vec<usize>>,
}

/// The lists are immutable directives, read once at start-up.
static CPU_LISTS: OnceLock<CpuLists> = OnceLock::new();

/// At start-up, on the executor's thread: pins it to `server_cpulist` and
/// records the background threads' lists. Threads started later without a
/// list of their own inherit the executor's, as Redis's do.
pub fn apply_cpulists(config: &Config) {
    let list = |d: Directive| parse_cpulist(&config.get_str(d));
    if let Some(cpus) = list(Directive::ServerCpulist) {
        pin_current_thread(&cpus);
    }
    let _ = CPU_LISTS.set(CpuLists {
        bio: list(Directive::BioCpulist),
        aof_rewrite: list(Directive::AofRewriteCpulist),
        bgsave: list(Directive::BgsaveCpulist),
    });
}

/// Nice value added to a snapshot's serialiser thread (see
/// [`background_thread_started`]). At 10 the kernel's weights are 110
/// against the executor's 1024: while both want the same core the
/// serialiser gets about a tenth of it; when the executor waits for its
/// clients, or another core is free, it gets all it can use.
pub const SNAPSHOT_NICE: i32 = 10;

/// Makes the calling thread yield to the executor: `SCHED_BATCH` (its
/// wake-ups do not preempt the executor) and its nice value raised by
/// [`SNAPSHOT_NICE`]. Linux applies both to the thread alone.
fn lower_current_thread_priority() {
    // SAFETY: sched_setscheduler(0, ...) reads a sched_param we own and
    // changes only the calling thread; gettid has no arguments;
    // get/setpriority with PRIO_PROCESS and a thread id change only that
    // thread. Failures (a sandbox refusing them) leave the priority as
    // it was, which is only slower for the writers.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_BATCH, &param);
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        let now = libc::getpriority(libc::PRIO_PROCESS, tid);
        libc::setpriority(libc::PRIO_PROCESS, tid, (now + SNAPSHOT_NICE).min(19));
    }
}

/// Called first thing by a background thread: pins it to its list. The
/// threads that serialise a snapshot (BGSAVE, a disk-based full sync, an
/// AOF rewrite) also lower their priority below the executor's.
///
/// Why: with the server on one core (as `bench/` pins it, or a container
/// with one CPU), the serialiser and the executor share that core, and the
/// kernel split it evenly between them. Under a full-speed SET writer the
/// serialiser was 43% of the process's `perf` samples during a save, and
/// that was the writer's loss (it kept 78% of its rate; Redis's forked
/// child competes the same way and Redis keeps ~40%). A save has no
/// deadline but the writers' latency has: the serialiser now takes the
/// idle time first (16% of the samples in the same measure, the writer
/// keeping 88%), and a save takes longer only while the core is saturated
/// (the walk waits on the serialiser's channel meanwhile, so memory stays
/// bounded). With a core to spare it changes nothing.
pub fn background_thread_started(kind: ThreadKind) {
    if matches!(kind, ThreadKind::AofRewrite | ThreadKind::Bgsave) {
        lower_current_thread_priority();
    }
    let Some(lists) = CPU_LISTS.get() else {
        return;
    };
    let list = match kind {
        ThreadKind::Bio => &lists.bio,
        ThreadKind::AofRewrite => &lists.aof_rewrite,
        ThreadKind::Bgsave => &lists.bgsave,
    };
    if let Some(cpus) = list {
        pin_current_thread(cpus);
    }
}

// ------------------------------------------------------ transparent huge pages

/// Huge pages make a long-lived heap of small allocations fragment and
/// its latency spike when the kernel compacts. With `disable-thp yes` (the
/// default) and THP set to `always`, they are turned off for this process
/// (`PR_SET_THP_DISABLE`); otherwise the operator is warned, as Redis does.
pub fn check_transparent_huge_pages(config: &Config) {
    let Ok(mode) = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled") else {
        return;
    };
    if !mode.contains("[always]") {
        return;
    }
    // SAFETY: prctl with PR_SET_THP_DISABLE only sets a flag of this
    // process.
    if config.get_bool(Directive::DisableThp)
        && unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) } == 0
    {
        return;
    }
    log_warning!("WARNING You have Transparent Huge Pages (THP) support enabled in your kernel. This makes the heap fragment and adds latency when the kernel compacts memory. Set it to 'madvise' or 'never' (echo madvise > /sys/kernel/mm/transparent_hugepage/enabled, and at boot), or keep disable-thp yes, then restart the server.");
}

// ------------------------------------------------------------ OOM score

const OOM_SCORE_ADJ: &str = "/proc/self/oom_score_adj";

/// What we changed: the score the process had before we first set it, to
/// go back to when `oom-score-adj` is turned off (Redis keeps the same).
static OOM_BASE: Mutex<Option<i64>> = Mutex::new(None);

/// The OOM score could not be read or written (the reason was logged);
/// displays as `CONFIG SET` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Failed to set current oom_score_adj. Check server logs.")]
pub struct OomScoreError;

/// The `oom-score-adj-values` class of this process: 0 master, 1 replica.
fn oom_class_value(config: &Config, replica: bool) -> i64 {
    let values = config.get_list(Directive::OomScoreAdjValues);
    let i = usize::from(replica);
    values.get(i).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Sets this process's OOM score from `oom-score-adj` and its class
/// (master or replica): `yes`/`relative` adds the class's value to the
/// score found when we first took control, `absolute` uses it as is;
/// `no` puts back the score we found. Called at start-up, after `CONFIG
/// SET` of either directive, and when the server becomes or stops being
/// a replica. An error has been logged when it returns `Err`.
pub fn apply_oom_score_adj(config: &Config, replica: bool) -> Result<(), OomScoreError> {
    apply_oom_score_adj_at(std::path::Path::new(OOM_SCORE_ADJ), config, replica)
}

fn apply_oom_score_adj_at(
    path: &std::path::Path,
    config: &Config,
    replica: bool,
) -> Result<(), OomScoreError> {
    let mode = config.get_str(Directive::OomScoreAdj);
    let mut base = OOM_BASE.lock().unwrap_or_else(|p| p.into_inner());
    let val = if mode != "no" {
        let b = match *base {
            Some(b) => b,
            None => {
                let read = std::fs::read_to_string(path)
                    .map_err(|e| e.to_string())
                    .and_then(|s| s.trim().parse::<i64>().map_err(|e| e.to_string()));
                match read {
                    Ok(b) => {
                        *base = Some(b);
                        b
                    }
                    Err(e) => {
                        log_warning!("Unable to read oom_score_adj: {e}");
                        return Err(OomScoreError);
                    }
                }
            }
        };
        let mut v = oom_class_value(config, replica);
        if mode != "absolute" {
            v += b;
        }
        v.clamp(-1000, 1000)
    } else {
        match base.take() {
            Some(b) => b,
            None => return Ok(()),
        }
    };
    if let Err(e) = std::fs::write(path, format!("{val}\n")) {
        log_warning!(
            "Unable to write oom_score_adj: {}",
            crate::config::strerror(&e)
        );
        return Err(OomScoreError);
    }
    Ok(())
}

/// The start-up step: the OOM score (a failure is logged, and start-up
/// goes on, as Redis's does).
pub fn apply_at_startup(config: &Config, replica: bool) {
    warn_unusual_oom_values(config);
    let _ = apply_oom_score_adj(config, replica);
}

/// An unprivileged process may raise its score but not lower it, so
/// values that fall from one class to the next (master, replica, child)
/// may be refused later; Redis warns when they are set, and so do we.
pub fn warn_unusual_oom_values(config: &Config) {
    let values = config.get_list(Directive::OomScoreAdjValues);
    let v: Vec<i64> = values.iter().filter_map(|v| v.parse().ok()).collect();
    if v.len() == 3 && (v[1] < v[0] || v[2] < v[1]) {
        log_warning!("The oom-score-adj-values configuration may not work for non-privileged processes! Please consult the documentation.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpulists_read_as_redis_reads_them() {
        assert_eq!(parse_cpulist("0"), Some(vec![0]));
        assert_eq!(parse_cpulist("0,2,4"), Some(vec![0, 2, 4]));
        assert_eq!(parse_cpulist("0-3"), Some(vec![0, 1, 2, 3]));
        assert_eq!(parse_cpulist("0-10:4"), Some(vec![0, 4, 8]));
        assert_eq!(
            parse_cpulist("1,4-6,8-12:2"),
            Some(vec![1, 4, 5, 6, 8, 10, 12])
        );
        // Lists Redis leaves unapplied.
        for bad in ["", "a", "3-1", "0-4:0", "1:2", "1,", "-1", "0-"] {
            assert_eq!(parse_cpulist(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_executor_thread_is_pinned_and_background_threads_follow_their_list() {
        // In a thread of its own, so the test runner's threads keep theirs.
        std::thread::spawn(|| {
            pin_current_thread(&[0]);
            // SAFETY: reads this thread's mask into a set we own.
            let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
            let r = unsafe {
                libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set)
            };
            assert_eq!(r, 0);
            assert!(unsafe { libc::CPU_ISSET(0, &set) });
            assert_eq!(unsafe { libc::CPU_COUNT(&set) }, 1);
        })
        .join()
        .expect("pinning thread");
    }

    #[test]
    fn oom_score_is_relative_absolute_and_restored() {
        let dir = std::env::temp_dir().join(format!("redoubt-oom-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("oom_score_adj");
        std::fs::write(&path, "22\n").expect("write");
        let read = || {
            std::fs::read_to_string(&path)
                .expect("read")
                .trim()
                .to_string()
        };
        let mut c = Config::new();
        let set = |c: &mut Config, k: &str, v: &str| {
            c.set(k, &v.split(' ').map(str::to_string).collect::<Vec<_>>())
                .expect("set")
        };
        set(&mut c, "oom-score-adj-values", "9 20 30");
        assert_eq!(apply_oom_score_adj_at(&path, &c, false), Ok(()));
        assert_eq!(read(), "22", "off: untouched");
        set(&mut c, "oom-score-adj", "relative");
        apply_oom_score_adj_at(&path, &c, false).expect("apply");
        assert_eq!(read(), "31");
        apply_oom_score_adj_at(&path, &c, true).expect("apply");
        assert_eq!(read(), "42", "replica class");
        set(&mut c, "oom-score-adj", "absolute");
        apply_oom_score_adj_at(&path, &c, false).expect("apply");
        assert_eq!(read(), "9");
        set(&mut c, "oom-score-adj-values", "2000 2000 2000");
        apply_oom_score_adj_at(&path, &c, false).expect("apply");
        assert_eq!(read(), "1000", "clamped");
        set(&mut c, "oom-score-adj", "no");
        apply_oom_score_adj_at(&path, &c, false).expect("apply");
        assert_eq!(read(), "22", "restored");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
