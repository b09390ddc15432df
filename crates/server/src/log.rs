//! Logging in Redis's format:
//! `pid:role dd Mon yyyy hh:mm:ss.mmm <level> message`, where role is `M`
//! (master), `S` (replica), `C` (background child) or `X` (sentinel) and the
//! level mark is `.` debug, `-` verbose, `*` notice, `#` warning.
//!
//! Hand-written rather than a `tracing` subscriber: the exact line format
//! is part of the product (operators grep for it, `doctor` reads it), and
//! the whole thing is a formatted write to one file.

pub mod syslog;

use std::io::Write;
use std::sync::atomic::{AtomicPtr, AtomicU8, Ordering};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug = 0,
    Verbose = 1,
    Notice = 2,
    Warning = 3,
    Nothing = 4,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.to_ascii_lowercase().as_str() {
            "debug" => Level::Debug,
            "verbose" => Level::Verbose,
            "notice" => Level::Notice,
            "warning" => Level::Warning,
            "nothing" => Level::Nothing,
            _ => return None,
        })
    }

    fn mark(self) -> char {
        match self {
            Level::Debug => '.',
            Level::Verbose => '-',
            Level::Notice => '*',
            _ => '#',
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Notice as u8);
static ROLE: AtomicU8 = AtomicU8::new(b'M');
static TARGET: Mutex<Option<String>> = Mutex::new(None);
/// The log file as a C string, for [`write_from_handler`], which may not
/// take a lock or allocate (null: standard output). Set once per
/// `set_file`; a replaced string is leaked, as a handler may still read it.
static TARGET_C: AtomicPtr<libc::c_char> = AtomicPtr::new(std::ptr::null_mut());

/// Sets the minimum level written.
pub fn set_level(l: Level) {
    LEVEL.store(l as u8, Ordering::Relaxed);
}

/// Sets the role mark (`M`, `S`, `X`).
pub fn set_role(r: u8) {
    ROLE.store(r, Ordering::Relaxed);
}

/// Sets the log file; empty means standard output.
pub fn set_file(path: &str) {
    let c = match std::ffi::CString::new(path) {
        Ok(c) if !path.is_empty() => c.into_raw(),
        _ => std::ptr::null_mut(),
    };
    TARGET_C.store(c, Ordering::SeqCst);
    if let Ok(mut t) = TARGET.lock() {
        *t = if path.is_empty() {
            None
        } else {
            Some(path.to_string())
        };
    }
}

/// True when log lines go to a terminal: standard output, and it is a tty.
pub fn to_terminal() -> bool {
    let to_stdout = TARGET.lock().map(|t| t.is_none()).unwrap_or(false);
    // SAFETY: isatty only inspects the descriptor.
    to_stdout && unsafe { libc::isatty(libc::STDOUT_FILENO) } == 1
}

pub fn enabled(l: Level) -> bool {
    l as u8 >= LEVEL.load(Ordering::Relaxed) && l != Level::Nothing
}

/// Formats the current local time as Redis does: `24 Nov 2026 18:58:10.123`.
pub fn timestamp() -> String {
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    // SAFETY: gettimeofday writes into the struct we pass.
    unsafe { libc::gettimeofday(&mut tv, std::ptr::null_mut()) };
    // SAFETY: an all-zero `tm` is a valid value to be overwritten.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let t: libc::time_t = tv.tv_sec;
    // SAFETY: localtime_r reads `t` and writes `tm`.
    unsafe { libc::localtime_r(&t, &mut tm) };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        tm.tm_mday,
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        tv.tv_usec / 1000
    )
}

/// Writes one log line if `level` is enabled.
pub fn write(level: Level, msg: &str) {
    if !enabled(level) {
        return;
    }
    let line = format!(
        "{}:{} {} {} {}\n",
        std::process::id(),
        ROLE.load(Ordering::Relaxed) as char,
        timestamp(),
        level.mark(),
        msg
    );
    emit(level, &line, msg);
}

/// Writes `text` as is, without the pid/role/time prefix, if `level` is
/// enabled: Redis's `LL_RAW`, used for the start-up logo.
pub fn write_raw(level: Level, text: &str) {
    if !enabled(level) {
        return;
    }
    emit(level, text, text);
}

/// Writes `line` to the log file (or standard output) and, under
/// `syslog-enabled`, sends `msg` to the system logger.
fn emit(level: Level, line: &str, msg: &str) {
    let target = TARGET.lock().ok().and_then(|t| t.clone());
    match target {
        Some(path) => {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = f.write_all(line.as_bytes());
            }
        }
        None => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
    }
    if let Ok(g) = syslog::SYSLOG.lock() {
        if let Some(s) = g.as_ref() {
            s.send(level, msg);
        }
    }
}

/// Writes one line from a signal handler, as Redis's
/// `serverLogFromHandler`: `pid:signal-handler (unixtime) message`, with
/// only async-signal-safe calls (no lock, no allocation, no local time).
pub fn write_from_handler(level: Level, msg: &str) {
    if !enabled(level) {
        return;
    }
    with_handler_fd(|fd| {
        let mut num = [0u8; 24];
        // SAFETY: write, time and getpid are async-signal-safe.
        let put = |b: &[u8]| unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) >= 0 };
        // SAFETY: as above.
        let (pid, now) = unsafe {
            (
                libc::getpid() as u64,
                libc::time(std::ptr::null_mut()) as u64,
            )
        };
        let _ = put(decimal(pid, &mut num))
            && put(b":signal-handler (")
            && put(decimal(now, &mut num))
            && put(b") ")
            && put(msg.as_bytes())
            && put(b"\n");
    });
}

/// Writes `bytes` as they are to the log from a signal handler (Redis's
/// raw crash-report text).
pub fn write_raw_from_handler(bytes: &[u8]) {
    with_handler_fd(|fd| {
        // SAFETY: write is async-signal-safe.
        unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    });
}

/// Runs `f` with a descriptor open on the log (the file, or standard
/// output), using async-signal-safe calls only.
pub fn with_handler_fd(f: impl FnOnce(libc::c_int)) {
    let path = TARGET_C.load(Ordering::SeqCst);
    // SAFETY: open and close are async-signal-safe; `path` is null or a C
    // string that is never freed.
    unsafe {
        let fd = if path.is_null() {
            libc::STDOUT_FILENO
        } else {
            libc::open(path, libc::O_APPEND | libc::O_CREAT | libc::O_WRONLY, 0o644)
        };
        if fd < 0 {
            return;
        }
        f(fd);
        if !path.is_null() {
            libc::close(fd);
        }
    }
}

/// Formats `n` in decimal into `buf` without allocating.
fn decimal(mut n: u64, buf: &mut [u8; 24]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

#[macro_export]
macro_rules! log_debug { ($($a:tt)*) => { $crate::log::write($crate::log::Level::Debug, &format!($($a)*)) } }
#[macro_export]
macro_rules! log_verbose { ($($a:tt)*) => { $crate::log::write($crate::log::Level::Verbose, &format!($($a)*)) } }
#[macro_export]
macro_rules! log_notice { ($($a:tt)*) => { $crate::log::write($crate::log::Level::Notice, &format!($($a)*)) } }
#[macro_export]
macro_rules! log_warning { ($($a:tt)*) => { $crate::log::write($crate::log::Level::Warning, &format!($($a)*)) } }
