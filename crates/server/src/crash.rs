//! What happens when the server breaks: a bug report in the log, as Redis
//! writes one, then the end of the process.
//!
//! - **A panic** (a broken invariant, or `propagation-error-behavior panic`)
//!   is Redis's `serverPanic`: the "Guru Meditation" lines with the message
//!   and the place, then (with `crash-log-enabled`) the stack trace, then
//!   the end of the report; the process then aborts, or exits with status 1
//!   under `use-exit-on-panic` (the hidden directive Redis's tests use to
//!   avoid core files).
//! - **A fatal signal** (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT), while
//!   `crash-log-enabled yes`: "crashed by signal", the faulting address,
//!   the sender of a signal sent by hand, the stack trace, then (with
//!   `crash-memcheck-enabled`) a fast test of the process's anonymous
//!   memory, other threads parked first; the signal is then raised again
//!   with its default action, so a core file is written as usual.
//! - **The software watchdog** (`watchdog-period`, hidden): when the
//!   executor does not come back to its cron within the period, the stack
//!   trace of the executor thread is logged, as Redis's SIGALRM watchdog
//!   does; the server goes on.
//!
//! Unlike Redis's report, ours has no INFO and CLIENT LIST sections: the
//! server state may be half-changed when a panic or a fault hits, and the
//! handlers never touch it.
//!
//! Everything the signal handlers use is prepared beforehand or is an
//! atomic; they write with `write(2)` only.

use crate::config::{Config, Directive};
use crate::log::{write_from_handler as handler_log, Level};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

static CRASH_LOG: AtomicBool = AtomicBool::new(true);
static MEMCHECK: AtomicBool = AtomicBool::new(true);
static EXIT_ON_PANIC: AtomicBool = AtomicBool::new(false);
/// Whether our fatal-signal handlers are installed.
static HANDLERS: AtomicBool = AtomicBool::new(false);
/// Set by [`start`]: a server runs in this process (the in-process test
/// kits apply configurations too, and keep the default handlers).
static RUNNING: AtomicBool = AtomicBool::new(false);

const FATAL: [libc::c_int; 5] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGABRT,
];

/// Applies `crash-log-enabled`, `crash-memcheck-enabled`,
/// `use-exit-on-panic` and `watchdog-period` (at start-up and after every
/// `CONFIG SET`). Redis raises a watchdog period shorter than two cron
/// ticks to two ticks, and shows the raised value; so do we.
pub fn apply(config: &mut Config, hz: u32) {
    EXIT_ON_PANIC.store(
        config.get_bool(Directive::UseExitOnPanic),
        Ordering::Relaxed,
    );
    MEMCHECK.store(
        config.get_bool(Directive::CrashMemcheckEnabled),
        Ordering::Relaxed,
    );
    let crash_log = config.get_bool(Directive::CrashLogEnabled);
    CRASH_LOG.store(crash_log, Ordering::Relaxed);
    if RUNNING.load(Ordering::Relaxed) && crash_log != HANDLERS.load(Ordering::Relaxed) {
        set_fatal_handlers(crash_log);
    }
    let mut period = config.get_int(Directive::WatchdogPeriod);
    let min = i64::from(1000 / hz.max(1)) * 2;
    if period > 0 && period < min {
        period = min;
        let _ = config.set("watchdog-period", &[period.to_string()]);
    }
    watchdog::set_period(period);
}

// ----------------------------------------------------------------- panics

/// At start-up, on the executor's thread, before the configuration is
/// applied: the panic hook, and the executor known to the watchdog.
pub fn start() {
    RUNNING.store(true, Ordering::Relaxed);
    watchdog::register_executor();
    // The unwinder loads its library on first use, which allocates: done
    // now rather than in a signal handler.
    let mut frames = [std::ptr::null_mut::<libc::c_void>(); 4];
    // SAFETY: backtrace fills at most `frames.len()` entries.
    unsafe { backtrace(frames.as_mut_ptr(), frames.len() as libc::c_int) };
    std::panic::set_hook(Box::new(|info| {
        let (file, line) = info.location().map_or(("?", 0), |l| (l.file(), l.line()));
        let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "panic".to_string()
        };
        bug_report_start();
        crate::log_warning!("------------------------------------------------");
        crate::log_warning!("!!! Software Failure. Press left mouse button to continue");
        crate::log_warning!("Guru Meditation: {msg} #{file}:{line}");
        if CRASH_LOG.load(Ordering::Relaxed) {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("unnamed");
            let trace = std::backtrace::Backtrace::force_capture();
            crate::log::write_raw(
                Level::Warning,
                &format!("\n------ STACK TRACE ------\n\nBacktrace (thread {name}):\n{trace}\n"),
            );
        }
        // The report is complete: a later abort() must not print another.
        set_fatal_handlers(false);
        bug_report_end();
        if EXIT_ON_PANIC.load(Ordering::Relaxed) {
            // SAFETY: ends the process at once, as Redis's _exit(1).
            unsafe { libc::_exit(1) };
        }
        std::process::abort();
    }));
}

fn bug_report_start() {
    crate::log::write_raw(
        Level::Warning,
        "\n\n=== REDOUBT BUG REPORT START: Cut & paste starting from here ===\n",
    );
}

fn bug_report_end() {
    crate::log::write_raw(Level::Warning, BUG_REPORT_END);
}

const BUG_REPORT_END: &str = "\n=== REDOUBT BUG REPORT END. Make sure to include from START to END. ===\n\n       Please report the crash with this report and the server's log.\n\n";

// ---------------------------------------------------------- fatal signals

/// `DEBUG SEGFAULT`: a write to a read-only page, as Redis does it.
pub fn segfault() -> ! {
    // SAFETY: deliberately faults; the fatal-signal handler (or the
    // default action) ends the process.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        ) as *mut u8;
        std::ptr::write_volatile(p, b'x');
        libc::abort()
    }
}

fn set_fatal_handlers(on: bool) {
    let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
        on_fatal_signal;
    for sig in FATAL {
        // SAFETY: a zeroed sigaction with an empty mask is valid; the
        // handler writes with async-signal-safe calls only (see below).
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            libc::sigemptyset(&mut act.sa_mask);
            if on {
                act.sa_sigaction = handler as usize;
                // On the thread's own stack (as Redis): the unwinder needs
                // more room than the small alternate stack has.
                act.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER | libc::SA_RESETHAND;
            } else {
                act.sa_sigaction = libc::SIG_DFL;
            }
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    }
    HANDLERS.store(on, Ordering::Relaxed);
}

/// A line formatted on the stack (no allocation in a signal handler).
struct Line {
    buf: [u8; 256],
    len: usize,
}

impl Line {
    fn new() -> Line {
        Line {
            buf: [0; 256],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl std::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

extern "C" fn on_fatal_signal(
    sig: libc::c_int,
    info: *mut libc::siginfo_t,
    _ctx: *mut libc::c_void,
) {
    raw(b"\n\n=== REDOUBT BUG REPORT START: Cut & paste starting from here ===\n");
    let mut l = Line::new();
    // SAFETY: the kernel hands a valid siginfo to an SA_SIGINFO handler.
    let (code, addr, pid, uid) = unsafe {
        let i = &*info;
        (i.si_code, i.si_addr(), i.si_pid(), i.si_uid())
    };
    let _ = write!(
        l,
        "Redoubt {} crashed by signal: {sig}, si_code: {code}",
        crate::REDOUBT_VERSION
    );
    handler_log(Level::Warning, l.as_str());
    if sig == libc::SIGSEGV || sig == libc::SIGBUS {
        let mut l = Line::new();
        let _ = write!(l, "Accessing address: {addr:p}");
        handler_log(Level::Warning, l.as_str());
    }
    if code == libc::SI_USER && pid != -1 {
        let mut l = Line::new();
        let _ = write!(l, "Killed by PID: {pid}, UID: {uid}");
        handler_log(Level::Warning, l.as_str());
    }
    log_stack_trace();
    if MEMCHECK.load(Ordering::Relaxed) {
        raw(b"\n------ FAST MEMORY TEST ------\n");
        park_other_threads();
        if memtest::test_anonymous_maps(raw) > 0 {
            raw(b"!!! MEMORY ERROR DETECTED! Check your memory ASAP !!!\n");
        } else {
            raw(b"Fast memory test PASSED, however your memory can still be broken. Please run a memory test for several hours if possible.\n");
        }
    }
    raw(BUG_REPORT_END.as_bytes());
    // SA_RESETHAND put the default action back: raised again, the signal
    // ends the process as it would have (with a core file if enabled).
    // SAFETY: raise is async-signal-safe.
    unsafe {
        libc::raise(sig);
    }
}

/// Writes `bytes` to the log as they are, from a handler.
fn raw(bytes: &[u8]) {
    crate::log::write_raw_from_handler(bytes);
}

extern "C" {
    fn backtrace(buf: *mut *mut libc::c_void, size: libc::c_int) -> libc::c_int;
    fn backtrace_symbols_fd(buf: *const *mut libc::c_void, size: libc::c_int, fd: libc::c_int);
}

/// The calling thread's stack, as glibc's `backtrace_symbols_fd` writes it
/// (no allocation), under Redis's heading.
fn log_stack_trace() {
    raw(b"\n------ STACK TRACE ------\n\nBacktrace:\n");
    let mut frames = [std::ptr::null_mut::<libc::c_void>(); 64];
    // SAFETY: backtrace fills at most `frames.len()` entries.
    let n = unsafe { backtrace(frames.as_mut_ptr(), frames.len() as libc::c_int) };
    crate::log::with_handler_fd(|fd| {
        // SAFETY: `n` entries were filled; the fd is open for the call.
        unsafe { backtrace_symbols_fd(frames.as_ptr(), n, fd) }
    });
}

// ------------------------------------------------------- thread parking

/// Parks every other thread of the process (so the memory test does not
/// pull memory from under them, nor they from under it): each gets
/// `SIGPARK`, whose handler never returns.
const SIGPARK: libc::c_int = libc::SIGUSR2;

extern "C" fn park_forever(_: libc::c_int) {
    loop {
        // SAFETY: pause is async-signal-safe.
        unsafe { libc::pause() };
    }
}

fn park_other_threads() {
    // SAFETY: installing a handler and signalling threads of our own
    // process; directory reads use only syscalls (getdents).
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        libc::sigemptyset(&mut act.sa_mask);
        let handler: extern "C" fn(libc::c_int) = park_forever;
        act.sa_sigaction = handler as usize;
        libc::sigaction(SIGPARK, &act, std::ptr::null_mut());
        let me = libc::syscall(libc::SYS_gettid) as libc::pid_t;
        let pid = libc::getpid();
        let fd = libc::open(
            c"/proc/self/task".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY,
        );
        if fd < 0 {
            return;
        }
        let mut buf = [0u8; 4096];
        loop {
            let n = libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len());
            if n <= 0 {
                break;
            }
            let mut off = 0usize;
            while off < n as usize {
                // linux_dirent64: ino (8), off (8), reclen (2), type (1), name.
                let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
                let name = &buf[off + 19..off + reclen];
                let tid = name
                    .iter()
                    .take_while(|c| c.is_ascii_digit())
                    .fold(0i64, |t, c| t * 10 + i64::from(c - b'0'));
                if tid > 0 && tid as libc::pid_t != me {
                    libc::syscall(libc::SYS_tgkill, pid, tid, SIGPARK);
                }
                off += reclen.max(1);
            }
        }
        libc::close(fd);
        // Give them a moment to stop where they are.
        libc::usleep(100_000);
    }
}

// ------------------------------------------------------------ memory test

mod memtest {
    //! A fast, content-preserving test of the process's anonymous
    //! writable memory (what `/proc/self/maps` lists as `rw` with device
    //! `00:00`): each chunk is copied aside, filled with patterns that are
    //! read back (each word's address, all ones then all zeros,
    //! alternating bits, a pseudo-random sequence), and put back. Run only
    //! with the other threads parked. Left out, because the test itself
    //! runs on them: stacks, the thread's own TLS, and the `.bss` of the
    //! program and its libraries (an anonymous mapping right after a
    //! file's), where libc keeps what its own functions read. What stays
    //! is the heap and the allocator's mappings: the dataset.

    const CHUNK_WORDS: usize = 16 * 1024;
    /// Where a chunk is kept while its memory is tested: a static, whose
    /// own region is skipped.
    static mut BACKUP: [usize; CHUNK_WORDS] = [0; CHUNK_WORDS];

    thread_local! {
        static TLS_MARK: u8 = const { 0 };
    }

    /// Tests every region; writes a mark per region tested (`O` fine, `E`
    /// errors) through `out`. Returns the errors.
    pub fn test_anonymous_maps(out: fn(&[u8])) -> usize {
        let marker = 0u8;
        let here = &marker as *const u8 as usize;
        let tls = TLS_MARK.with(|m| m as *const u8 as usize);
        let backup_at = std::ptr::addr_of!(BACKUP) as usize;
        let mut regions = [(0usize, 0usize); 256];
        let mut count = 0;
        // SAFETY: reads /proc/self/maps with syscalls into a stack buffer.
        let fd = unsafe { libc::open(c"/proc/self/maps".as_ptr(), libc::O_RDONLY) };
        if fd < 0 {
            return 0;
        }
        let mut buf = [0u8; 64 * 1024];
        let mut len = 0;
        loop {
            // SAFETY: reads into the unused tail of `buf`.
            let n = unsafe { libc::read(fd, buf[len..].as_mut_ptr().cast(), buf.len() - len) };
            if n <= 0 || len + n as usize >= buf.len() {
                break;
            }
            len += n as usize;
        }
        // SAFETY: closing the descriptor we opened.
        unsafe { libc::close(fd) };
        // End of the previous mapping, and whether a file backs it.
        let mut prev: (usize, bool) = (0, false);
        for line in buf[..len].split(|&c| c == b'\n') {
            let Some((start, end, rest)) = parse_line(line) else {
                continue;
            };
            let named = |w: &[u8]| rest.windows(w.len()).any(|x| x == w);
            let anonymous = named(b" 00:00 0 ") || rest.ends_with(b" 00:00 0");
            let after_file = prev == (start, true);
            prev = (end, !anonymous && !named(b"["));
            if named(b"stack") || named(b"vdso") || named(b"vsyscall") {
                continue;
            }
            if !named(b"00:00") || !rest.starts_with(b"rw") || after_file {
                continue;
            }
            // Never the memory this very test runs on: its stack, its TLS
            // and the backup area (which may straddle two mappings).
            let backup_end = backup_at + CHUNK_WORDS * std::mem::size_of::<usize>();
            if (start..end).contains(&here)
                || (start..end).contains(&tls)
                || (start < backup_end && backup_at < end)
            {
                continue;
            }
            if count < regions.len() {
                regions[count] = (start, end);
                count += 1;
            }
        }
        let mut errors = 0;
        for &(start, end) in &regions[..count] {
            out(b".");
            // SAFETY: the region is mapped read-write, the other threads
            // are parked, and every word is restored before moving on.
            errors += unsafe { test_region(start, end) };
            out(if errors > 0 { b"E" } else { b"O" });
        }
        out(b"\n");
        errors
    }

    /// `start-end perms offset dev inode name`: the range and what follows.
    fn parse_line(line: &[u8]) -> Option<(usize, usize, &[u8])> {
        let dash = line.iter().position(|&c| c == b'-')?;
        let space = line.iter().position(|&c| c == b' ')?;
        let start = hex(&line[..dash])?;
        let end = hex(&line[dash + 1..space])?;
        Some((start, end, &line[space + 1..]))
    }

    fn hex(s: &[u8]) -> Option<usize> {
        let mut v = 0usize;
        for &c in s {
            let d = (c as char).to_digit(16)?;
            v = v.checked_mul(16)?.checked_add(d as usize)?;
        }
        Some(v)
    }

    unsafe fn test_region(start: usize, end: usize) -> usize {
        let mut errors = 0;
        let mut p = start;
        let backup = std::ptr::addr_of_mut!(BACKUP) as *mut usize;
        while p < end {
            let words = ((end - p) / std::mem::size_of::<usize>()).min(CHUNK_WORDS);
            let m = p as *mut usize;
            // Word by word rather than memcpy: no libc while testing.
            for i in 0..words {
                std::ptr::write_volatile(backup.add(i), std::ptr::read_volatile(m.add(i)));
            }
            errors += fill_check(m, words, |i, a| a ^ i);
            errors += fill_check(m, words, |_, _| usize::MAX);
            errors += fill_check(m, words, |_, _| 0);
            errors += fill_check(m, words, |i, _| {
                if i % 2 == 0 {
                    0xAAAA_AAAA_AAAA_AAAA
                } else {
                    0x5555_5555_5555_5555
                }
            });
            errors += fill_check(m, words, |i, a| {
                // xorshift of the position: cheap, not periodic.
                let mut x = (a ^ i).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                x ^= x << 13;
                x ^= x >> 7;
                x ^ (x << 17)
            });
            for i in 0..words {
                std::ptr::write_volatile(m.add(i), std::ptr::read_volatile(backup.add(i)));
            }
            p += words * std::mem::size_of::<usize>();
        }
        errors
    }

    /// Writes `pattern(i, address)` to each word, reads all back twice.
    unsafe fn fill_check(
        m: *mut usize,
        words: usize,
        pattern: impl Fn(usize, usize) -> usize,
    ) -> usize {
        for i in 0..words {
            let a = m.add(i);
            std::ptr::write_volatile(a, pattern(i, a as usize));
        }
        let mut errors = 0;
        for _ in 0..2 {
            for i in 0..words {
                let a = m.add(i);
                if std::ptr::read_volatile(a) != pattern(i, a as usize) {
                    errors += 1;
                }
            }
        }
        errors
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_region_is_tested_and_restored() {
            let mut v: Vec<usize> = (0..40_000).map(|i| i * 7).collect();
            let start = v.as_mut_ptr() as usize;
            let end = start + v.len() * std::mem::size_of::<usize>();
            // SAFETY: the vector's own memory, untouched by others.
            let errors = unsafe { test_region(start, end) };
            assert_eq!(errors, 0);
            assert!(v.iter().enumerate().all(|(i, &x)| x == i * 7));
        }

        #[test]
        fn maps_lines_parse() {
            let l = b"7f12a000-7f12c000 rw-p 00000000 00:00 0 ";
            assert_eq!(
                parse_line(l).map(|(a, b, _)| (a, b)),
                Some((0x7f12a000, 0x7f12c000))
            );
        }
    }
}

// --------------------------------------------------------------- watchdog

pub mod watchdog {
    //! Redis re-arms a SIGALRM timer in every cron; when the cron does not
    //! run within the period, the handler logs where the main thread is.
    //! Here the cron counts beats; a watchdog thread checks them and, when
    //! the executor missed its period, sends SIGALRM to the executor's own
    //! thread, whose handler logs its stack.

    use super::*;

    static PERIOD_MS: AtomicI64 = AtomicI64::new(0);
    static BEATS: AtomicU64 = AtomicU64::new(0);
    /// The executor's thread (`pthread_t`), set at start-up.
    static EXECUTOR: AtomicU64 = AtomicU64::new(0);
    static STARTED: AtomicBool = AtomicBool::new(false);

    /// Records the calling thread as the executor (at start-up).
    pub fn register_executor() {
        // SAFETY: pthread_self has no preconditions.
        EXECUTOR.store(unsafe { libc::pthread_self() } as u64, Ordering::Relaxed);
    }

    /// A cron run: the executor is alive.
    pub fn beat() {
        BEATS.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn set_period(ms: i64) {
        PERIOD_MS.store(ms, Ordering::Relaxed);
        if ms > 0 && EXECUTOR.load(Ordering::Relaxed) != 0 && !STARTED.swap(true, Ordering::SeqCst)
        {
            start();
        }
    }

    extern "C" fn on_alarm(_: libc::c_int) {
        handler_log(Level::Warning, "\n--- WATCHDOG TIMER EXPIRED ---");
        log_stack_trace();
        handler_log(Level::Warning, "--------\n");
    }

    fn start() {
        // SAFETY: installs a handler that writes with write(2) only.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            libc::sigemptyset(&mut act.sa_mask);
            let handler: extern "C" fn(libc::c_int) = on_alarm;
            act.sa_sigaction = handler as usize;
            act.sa_flags = libc::SA_RESTART;
            libc::sigaction(libc::SIGALRM, &act, std::ptr::null_mut());
        }
        let spawned = std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(|| {
                let mut seen = BEATS.load(Ordering::Relaxed);
                let mut since = std::time::Instant::now();
                let mut fired = false;
                loop {
                    let period = PERIOD_MS.load(Ordering::Relaxed);
                    let tick = if period > 0 {
                        (period / 4).clamp(10, 250)
                    } else {
                        250
                    };
                    std::thread::sleep(std::time::Duration::from_millis(tick as u64));
                    let now = BEATS.load(Ordering::Relaxed);
                    if now != seen {
                        seen = now;
                        since = std::time::Instant::now();
                        fired = false;
                        continue;
                    }
                    if period > 0 && !fired && since.elapsed().as_millis() as i64 >= period {
                        fired = true;
                        let t = EXECUTOR.load(Ordering::Relaxed) as libc::pthread_t;
                        // SAFETY: the executor thread lives as long as the
                        // process.
                        unsafe { libc::pthread_kill(t, libc::SIGALRM) };
                    }
                }
            });
        if let Err(e) = spawned {
            crate::log_warning!("Can't start the watchdog thread: {e}");
        }
    }
}
