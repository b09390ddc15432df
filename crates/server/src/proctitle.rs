//! The process title (`set-proc-title`, `proc-title-template`): what `ps`
//! and `/proc/<pid>/cmdline` show, e.g. `redis-server 127.0.0.1:6379`,
//! so an operator tells the instances on a host apart.
//!
//! Linux shows the memory the program's arguments were passed in; it can
//! only be rewritten in place. At start (before any thread exists) the
//! environment strings that follow the arguments are copied elsewhere, so
//! arguments and environment together form the room for the title; each
//! title is then written into it and the rest zeroed. Done by hand with
//! `libc`: no maintained crate does this for Rust programs.

use crate::config::Directive;
use crate::server::Server;
use std::ffi::{c_char, CStr, CString};
use std::sync::Mutex;

extern "C" {
    static mut environ: *mut *mut c_char;
    static mut program_invocation_name: *mut c_char;
}

/// The writable room: start address and length (as an integer, to keep
/// the static `Send`).
static ROOM: Mutex<Option<(usize, usize)>> = Mutex::new(None);

/// argv[0] as the program was started (`{title}`), saved before the
/// room is written over.
static TITLE: Mutex<String> = Mutex::new(String::new());

/// Finds the room for titles and moves the environment out of it. Must
/// run before any other thread exists (it rewrites `environ`).
pub fn init() {
    let Ok(cmdline) = std::fs::read("/proc/self/cmdline") else {
        return;
    };
    if let (Some(argv0), Ok(mut t)) = (std::env::args().next(), TITLE.lock()) {
        *t = argv0;
    }
    // SAFETY: single-threaded start-up. `program_invocation_name` is
    // argv[0], the start of the contiguous argument strings the kernel
    // laid out; `environ` lists the environment strings, which follow
    // them. Every environment string inside the room is copied to the
    // heap (leaked: the process keeps it) before the room is reused, and
    // `program_invocation_name` too.
    unsafe {
        let start = program_invocation_name;
        if start.is_null() {
            return;
        }
        let mut end = start.add(cmdline.len());
        let env = environ;
        if !env.is_null() {
            let mut i = 0;
            while !(*env.add(i)).is_null() {
                let p = *env.add(i);
                if p == end {
                    let s = CStr::from_ptr(p);
                    end = p.add(s.to_bytes().len() + 1);
                    if let Ok(copy) = CString::new(s.to_bytes()) {
                        *env.add(i) = copy.into_raw();
                    }
                }
                i += 1;
            }
        }
        if let Ok(copy) = CString::new(CStr::from_ptr(start).to_bytes()) {
            program_invocation_name = copy.into_raw();
        }
        if let Ok(mut room) = ROOM.lock() {
            *room = Some((start as usize, end as usize - start as usize));
        }
    }
}

/// Sets the title from the template, when `set-proc-title` is on.
pub fn apply(srv: &Server) {
    if !srv.config.get_bool(Directive::SetProcTitle) {
        return;
    }
    let title = TITLE.lock().map(|t| t.clone()).unwrap_or_default();
    let text = expand(
        srv,
        &srv.config.get_str(Directive::ProcTitleTemplate),
        &title,
    );
    let Ok(room) = ROOM.lock() else { return };
    let Some((start, len)) = *room else { return };
    if len < 2 {
        return;
    }
    let bytes = text.as_bytes();
    let n = bytes.len().min(len - 1);
    // SAFETY: `start..start+len` is the argument/environment area found by
    // `init`, no longer referenced by anything else; writes stay inside.
    unsafe {
        let dst = start as *mut u8;
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, n);
        std::ptr::write_bytes(dst.add(n), 0, len - n);
    }
}

/// Expands `{variables}` as Redis's template does, trimming spaces.
pub fn expand(srv: &Server, template: &str, title: &str) -> String {
    let c = &srv.config;
    let port = c.get_int(Directive::Port);
    let tls_port = c.get_int(Directive::TlsPort);
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let value = match &after[..close] {
            "title" => title.to_string(),
            "listen-addr" => {
                if port != 0 || tls_port != 0 {
                    let bind = c.get_list(Directive::Bind);
                    let addr = bind.first().map_or("*", |s| s.as_str());
                    let p = if port != 0 { port } else { tls_port };
                    format!("{addr}:{p}")
                } else {
                    format!("unixsocket:{}", c.get_str(Directive::Unixsocket))
                }
            }
            "server-mode" => match c.mode {
                Some(m) if m.name == "sentinel" => "[sentinel]".into(),
                _ => String::new(),
            },
            "config-file" => c
                .file
                .as_ref()
                .map(|f| f.display().to_string())
                .unwrap_or_else(|| "-".into()),
            "port" => port.to_string(),
            "tls-port" => tls_port.to_string(),
            "unixsocket" => c.get_str(Directive::Unixsocket),
            other => format!("{{{other}}}"),
        };
        out.push_str(&value);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out.trim_matches(' ').to_string()
}
