//! SIGTERM and SIGINT, handled as Redis handles them: the handler only
//! logs and records the request; the shutdown itself starts from the
//! cron (`shutdown::cron`), so `DEBUG PAUSE-CRON` holds it and `SHUTDOWN
//! ABORT` can cancel it first. A second SIGINT while a shutdown is pending
//! means "now": the handler removes the temporary file of a save in
//! progress and exits with status 1 at once, even while the executor is
//! busy (writing the final snapshot, say).
//!
//! The handlers are plain `sigaction` handlers rather than tokio's signal
//! streams, because that last case must act while the executor thread is
//! blocked; everything they touch is an atomic or a string prepared
//! before they were installed.

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::OnceLock;

/// The signal that asked for a shutdown not yet started or cancelled
/// (Redis's `shutdown_asap` with `last_sig_received`); 0 when none.
static REQUESTED: AtomicI32 = AtomicI32::new(0);
/// Whether the dataset is loading, for the handler's message.
static LOADING: AtomicBool = AtomicBool::new(false);
/// `temp-<pid>.rdb`, the file a save in progress writes in `dir`.
static TEMP_RDB: OnceLock<CString> = OnceLock::new();

/// The signal behind a pending shutdown request, if any.
pub fn requested() -> Option<i32> {
    match REQUESTED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Records a shutdown request as signal `sig` does (its handler calls
/// this; tests call it directly).
pub fn request(sig: i32) {
    REQUESTED.store(sig, Ordering::SeqCst);
}

/// Forgets a pending request (the shutdown started, or was cancelled or
/// aborted).
pub fn clear() {
    REQUESTED.store(0, Ordering::SeqCst);
}

/// Tells the handler whether the dataset is loading.
pub fn set_loading(loading: bool) {
    LOADING.store(loading, Ordering::Relaxed);
}

extern "C" fn on_shutdown_signal(sig: libc::c_int) {
    let mut msg = match sig {
        libc::SIGINT => "Received SIGINT scheduling shutdown...",
        libc::SIGTERM => "Received SIGTERM scheduling shutdown...",
        _ => "Received shutdown signal, scheduling shutdown...",
    };
    // Ctrl+C twice: the user wants out now, without the final save and
    // without waiting for replicas.
    if sig == libc::SIGINT && REQUESTED.load(Ordering::SeqCst) != 0 {
        crate::log::write_from_handler(crate::log::Level::Warning, "You insist... exiting now.");
        if let Some(tmp) = TEMP_RDB.get() {
            // SAFETY: unlink and _exit are async-signal-safe.
            unsafe { libc::unlink(tmp.as_ptr()) };
        }
        // SAFETY: as above; not a clean shutdown, hence the status.
        unsafe { libc::_exit(1) };
    }
    if LOADING.load(Ordering::Relaxed) {
        msg = "Received shutdown signal during loading, scheduling shutdown.";
    }
    crate::log::write_from_handler(crate::log::Level::Warning, msg);
    request(sig);
}

/// Installs the SIGTERM and SIGINT handlers (before the listeners open, so
/// a signal during start-up still ends in an orderly shutdown). Returns
/// false when the system refused them.
pub fn install() -> bool {
    let _ =
        TEMP_RDB.set(CString::new(format!("temp-{}.rdb", std::process::id())).unwrap_or_default());
    let handler: extern "C" fn(libc::c_int) = on_shutdown_signal;
    let mut ok = true;
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: a zeroed sigaction with an empty mask and our handler is
        // a valid argument; the handler only touches atomics and makes
        // async-signal-safe calls.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = handler as usize;
            libc::sigemptyset(&mut act.sa_mask);
            ok &= libc::sigaction(sig, &act, std::ptr::null_mut()) == 0;
        }
    }
    ok
}

/// Which `shutdown-on-sig*` directive applies to `sig`.
pub fn directive_for(sig: i32) -> Option<crate::config::Directive> {
    match sig {
        libc::SIGINT => Some(crate::config::Directive::ShutdownOnSigint),
        libc::SIGTERM => Some(crate::config::Directive::ShutdownOnSigterm),
        _ => None,
    }
}
