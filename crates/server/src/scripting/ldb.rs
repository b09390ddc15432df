//! The Lua debugger (Redis's LDB), in its synchronous mode
//! (`SCRIPT DEBUG SYNC`): the next EVAL of that client stops at its first
//! line and the client drives it with debugger commands (step, continue,
//! list, print, break, eval, redis, trace, maxlen, abort) while the
//! server waits, as Redis's synchronous sessions block it. When the script
//! ends, `<endsession>` is sent, then the script's reply, and the
//! connection closes.
//!
//! The session talks to the client's socket directly from inside Lua's
//! hooks (the client's task is mid-command), in Redis's format: each
//! batch of log lines is a RESP array of simple strings. `SCRIPT DEBUG
//! YES` (Redis forks a child to run the session on a copy of the data) is
//! refused: there is no fork here.
//!
//! There is one session at most (the server waits while it runs), so its
//! state is kept per thread, as Redis keeps it in one global: the
//! `redis.*` functions log to it from anywhere.

use super::lua::{self, ffi, State};
use std::cell::RefCell;
use std::ffi::CStr;
use std::os::raw::c_int;
use std::time::Instant;

/// Log lines and variable dumps are cut at this length by default.
const MAX_LEN_DEFAULT: usize = 256;
const BREAKPOINTS_MAX: usize = 64;
/// Nesting shown when a table is printed (Redis's LDB_MAX_VALUES_DEPTH).
const MAX_VALUES_DEPTH: u32 = (ffi::LUA_MINSTACK / 2) as u32;

struct Ldb {
    active: bool,
    /// Stop at the next line.
    step: bool,
    /// `redis.breakpoint()` was called.
    luabp: bool,
    bp: Vec<i32>,
    src: Vec<Vec<u8>>,
    currentline: i32,
    maxlen: usize,
    maxlen_hint_sent: bool,
    logs: Vec<Vec<u8>>,
    /// Debugger input not parsed yet.
    cbuf: Vec<u8>,
    fd: c_int,
    /// When the script last resumed (the timeout that stops a runaway
    /// script counts from here).
    resumed: Instant,
}

thread_local! {
    static LDB: RefCell<Ldb> = RefCell::new(Ldb {
        active: false,
        step: false,
        luabp: false,
        bp: Vec::new(),
        src: Vec::new(),
        currentline: 0,
        maxlen: MAX_LEN_DEFAULT,
        maxlen_hint_sent: false,
        logs: Vec::new(),
        cbuf: Vec::new(),
        fd: -1,
        resumed: Instant::now(),
    });
}

fn with<R>(f: impl FnOnce(&mut Ldb) -> R) -> R {
    LDB.with(|l| f(&mut l.borrow_mut()))
}

/// A session runs.
pub fn active() -> bool {
    with(|l| l.active)
}

/// A session runs and is stepping (Redis's `ldbIsEnabled`): commands and
/// errors are logged.
pub fn enabled() -> bool {
    with(|l| l.active && l.step)
}

/// Appends a line to the next batch sent to the client.
pub fn log(entry: Vec<u8>) {
    with(|l| l.logs.push(entry));
}

/// As [`log`], cut at the `maxlen` setting (with a hint the first time).
fn log_with_maxlen(mut entry: Vec<u8>) {
    with(|l| {
        let mut trimmed = false;
        if l.maxlen > 0 && entry.len() > l.maxlen {
            entry.truncate(l.maxlen);
            entry.extend_from_slice(b" ...");
            trimmed = true;
        }
        l.logs.push(entry);
        if trimmed && !l.maxlen_hint_sent {
            l.maxlen_hint_sent = true;
            l.logs.push(
                b"<hint> The above reply was trimmed. Use 'maxlen 0' to disable trimming.".to_vec(),
            );
        }
    });
}

/// Starts a session for a client whose socket is `fd`, on the script
/// `src` (its lines are what `list` shows).
pub fn start(fd: c_int, src: &[u8]) {
    crate::log_warning!("Redis synchronous debugging eval session started");
    let mut end = src.len();
    while end > 0 && (src[end - 1] == b'\n' || src[end - 1] == b'\r') {
        end -= 1;
    }
    let lines = if end == 0 {
        Vec::new()
    } else {
        src[..end]
            .split(|&b| b == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    };
    with(|l| {
        l.active = true;
        l.step = true;
        l.luabp = false;
        l.bp.clear();
        l.src = lines;
        l.currentline = 0;
        l.maxlen = MAX_LEN_DEFAULT;
        l.maxlen_hint_sent = false;
        l.logs.clear();
        l.cbuf.clear();
        l.fd = fd;
        l.resumed = Instant::now();
    });
}

/// Ends the session: the remaining logs and `<endsession>` are sent.
pub fn end() {
    log(b"<endsession>".to_vec());
    send_logs();
    crate::log_warning!("Redis synchronous debugging eval session ended");
    with(|l| {
        l.active = false;
        l.src.clear();
        l.fd = -1;
    });
}

/// Writes all of `buf` to the session's socket, waiting up to 5 seconds
/// for room each time (Redis's send timeout). Errors are ignored: the
/// next read sees the connection gone.
pub fn write_all(fd: c_int, mut buf: &[u8]) {
    while !buf.is_empty() {
        // SAFETY: writing our own buffer to the client's socket, which its
        // task does not touch while it waits for this command.
        let n = unsafe { libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len()) };
        if n > 0 {
            buf = &buf[n as usize..];
            continue;
        }
        let err = std::io::Error::last_os_error();
        if n < 0 && err.kind() == std::io::ErrorKind::WouldBlock {
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: one pollfd on the stack.
            if unsafe { libc::poll(&mut p, 1, 5000) } > 0 {
                continue;
            }
        } else if n < 0 && err.kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        return;
    }
}

/// Reads what the client sent, waiting for it; `None` when the connection
/// is gone.
fn read_some(fd: c_int) -> Option<Vec<u8>> {
    let mut buf = [0u8; 1024];
    loop {
        // SAFETY: reading into a stack buffer from the client's socket.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        if n > 0 {
            return Some(buf[..n as usize].to_vec());
        }
        if n == 0 {
            return None;
        }
        match std::io::Error::last_os_error().kind() {
            std::io::ErrorKind::WouldBlock => {
                let mut p = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one pollfd on the stack.
                unsafe { libc::poll(&mut p, 1, -1) };
            }
            std::io::ErrorKind::Interrupted => {}
            _ => return None,
        }
    }
}

/// Sends the pending log lines as an array of simple strings.
fn send_logs() {
    let (fd, logs) = with(|l| (l.fd, std::mem::take(&mut l.logs)));
    let mut out = Vec::new();
    out.push(b'*');
    out.extend_from_slice(logs.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for e in logs {
        out.push(b'+');
        out.extend(
            e.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        out.extend_from_slice(b"\r\n");
    }
    if fd >= 0 {
        write_all(fd, &out);
    }
}

/// `redis.call`'s command, as the session shows it (ten arguments at
/// most).
pub fn log_command(argv: command_meta::Argv) {
    let mut s = b"<redis>".to_vec();
    let argc = argv.len();
    for (j, a) in argv.iter().enumerate() {
        if j == 10 {
            // Redis's count, one short.
            s.extend_from_slice(format!(" ... ({} more)", argc - j - 1).as_bytes());
            break;
        }
        s.push(b' ');
        s.extend_from_slice(a);
    }
    log(s);
}

/// A command's reply, in the session's readable form.
pub fn log_reply(reply: &[u8]) {
    let mut s = b"<reply> ".to_vec();
    let mut pos = 0;
    human(reply, &mut pos, &mut s);
    log_with_maxlen(s);
}

fn line_at<'a>(b: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let rest = &b[(*pos).min(b.len())..];
    let end = rest.iter().position(|&c| c == b'\r').unwrap_or(rest.len());
    *pos += end + 2;
    &rest[..end]
}

/// Redis's `ldbRedisProtocolToHuman`.
fn human(b: &[u8], pos: &mut usize, o: &mut Vec<u8>) {
    let Some(&t) = b.get(*pos) else {
        return;
    };
    let start = *pos;
    match t {
        b':' => {
            let l = line_at(b, pos);
            o.extend_from_slice(&l[1..]);
        }
        b'$' => {
            let l = line_at(b, pos);
            let n: i64 = std::str::from_utf8(&l[1..])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(-1);
            if n < 0 {
                o.extend_from_slice(b"NULL");
            } else {
                let s = &b[(*pos).min(b.len())..(*pos + n as usize).min(b.len())];
                repr(o, s);
                *pos += n as usize + 2;
            }
        }
        b'+' | b'-' => {
            let l = line_at(b, pos);
            let _ = start;
            repr(o, l);
        }
        b'*' | b'~' | b'%' => {
            let l = line_at(b, pos);
            let n: i64 = std::str::from_utf8(&l[1..])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if t == b'*' && n == -1 {
                o.extend_from_slice(b"NULL");
                return;
            }
            let (open, close): (&[u8], &[u8]) = match t {
                b'*' => (b"[", b"]"),
                b'~' => (b"~(", b")"),
                _ => (b"{", b"}"),
            };
            o.extend_from_slice(open);
            for j in 0..n.max(0) {
                human(b, pos, o);
                if t == b'%' {
                    o.extend_from_slice(b" => ");
                    human(b, pos, o);
                }
                if j != n - 1 {
                    o.push(b',');
                }
            }
            o.extend_from_slice(close);
        }
        b'_' => {
            line_at(b, pos);
            o.extend_from_slice(b"(null)");
        }
        b'#' => {
            let l = line_at(b, pos);
            o.extend_from_slice(if l.get(1) == Some(&b't') {
                b"#true"
            } else {
                b"#false"
            });
        }
        b',' => {
            let l = line_at(b, pos);
            o.extend_from_slice(b"(double) ");
            o.extend_from_slice(&l[1..]);
        }
        _ => {}
    }
}

/// Redis's `sdscatrepr`: a quoted string with escapes.
fn repr(o: &mut Vec<u8>, s: &[u8]) {
    o.push(b'"');
    for &c in s {
        match c {
            b'\\' | b'"' => {
                o.push(b'\\');
                o.push(c);
            }
            b'\n' => o.extend_from_slice(b"\\n"),
            b'\r' => o.extend_from_slice(b"\\r"),
            b'\t' => o.extend_from_slice(b"\\t"),
            7 => o.extend_from_slice(b"\\a"),
            8 => o.extend_from_slice(b"\\b"),
            0x20..=0x7e => o.push(c),
            _ => o.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    o.push(b'"');
}

/// A readable form of the value at `idx` (Redis's `ldbCatStackValue`).
///
/// # Safety
/// `idx` must be valid in `l`, with room for two more values.
pub unsafe fn cat_value(o: &mut Vec<u8>, l: State, idx: c_int, level: u32) {
    if level == MAX_VALUES_DEPTH {
        o.extend_from_slice(b"<max recursion level reached! Nested table?>");
        return;
    }
    let level = level + 1;
    let t = ffi::lua_type(l, idx);
    match t {
        ffi::LUA_TSTRING => repr(o, lua::to_bytes(l, idx).unwrap_or_default()),
        ffi::LUA_TBOOLEAN => o.extend_from_slice(if ffi::lua_toboolean(l, idx) != 0 {
            b"true"
        } else {
            b"false"
        }),
        ffi::LUA_TNUMBER => lua::fmt_printf(c"%g", ffi::lua_tonumber(l, idx), o),
        ffi::LUA_TNIL => o.extend_from_slice(b"nil"),
        ffi::LUA_TTABLE => {
            let idx = lua::abs_index(l, idx);
            let mut expected = 1.0;
            let mut is_array = true;
            let (mut arr, mut full) = (Vec::new(), Vec::new());
            ffi::lua_checkstack(l, 2);
            ffi::lua_pushnil(l);
            while ffi::lua_next(l, idx) != 0 {
                if is_array
                    && (ffi::lua_type(l, -2) != ffi::LUA_TNUMBER
                        || ffi::lua_tonumber(l, -2) != expected)
                {
                    is_array = false;
                }
                cat_value(&mut arr, l, -1, level);
                arr.extend_from_slice(b"; ");
                full.push(b'[');
                cat_value(&mut full, l, -2, level);
                full.extend_from_slice(b"]=");
                cat_value(&mut full, l, -1, level);
                full.extend_from_slice(b"; ");
                ffi::lua_pop(l, 1);
                expected += 1.0;
            }
            for r in [&mut arr, &mut full] {
                if !r.is_empty() {
                    r.truncate(r.len() - 2);
                }
            }
            o.push(b'{');
            o.extend_from_slice(if is_array { &arr } else { &full });
            o.push(b'}');
        }
        _ => {
            let name = match t {
                ffi::LUA_TFUNCTION => "function",
                ffi::LUA_TUSERDATA => "userdata",
                ffi::LUA_TTHREAD => "thread",
                ffi::LUA_TLIGHTUSERDATA => "light-userdata",
                _ => "unknown",
            };
            let p = ffi::lua_topointer(l, idx);
            o.extend_from_slice(format!("\"{name}@{p:p}\"").as_bytes());
        }
    }
}

fn log_value(l: State, prefix: &[u8]) {
    let mut s = prefix.to_vec();
    // SAFETY: the value is on top of the stack of the running script.
    unsafe { cat_value(&mut s, l, -1, 0) };
    log_with_maxlen(s);
}

/// `redis.debug(...)`: its arguments, logged.
///
/// # Safety
/// From a Lua C function, with its arguments on the stack.
pub unsafe fn debug_call(l: State) {
    if !active() {
        return;
    }
    let argc = ffi::lua_gettop(l);
    let mut s = format!("<debug> line {}: ", with(|d| d.currentline)).into_bytes();
    for i in 1..=argc {
        cat_value(&mut s, l, i, 0);
        if i != argc {
            s.extend_from_slice(b", ");
        }
    }
    log(s);
}

/// `redis.breakpoint()`: stop at the next line; whether a session runs.
pub fn breakpoint_call() -> bool {
    with(|l| {
        if l.active {
            l.luabp = true;
        }
        l.active
    })
}

fn source_line(l: &Ldb, line: i32) -> Vec<u8> {
    let src = usize::try_from(line - 1)
        .ok()
        .and_then(|i| l.src.get(i))
        .map_or(&b"<out of range source code line>"[..], |s| s.as_slice());
    let prefix: &[u8] = match (l.currentline == line, l.bp.contains(&line)) {
        (true, true) => b"->#",
        (true, false) => b"-> ",
        (false, true) => b"  #",
        (false, false) => b"   ",
    };
    let mut s = prefix.to_vec();
    s.extend_from_slice(format!("{line:<3} ").as_bytes());
    s.extend_from_slice(src);
    s
}

fn log_source_line(line: i32) {
    let s = with(|l| source_line(l, line));
    log(s);
}

fn list(around: i32, context: i32) {
    let n = with(|l| l.src.len() as i32);
    for j in 1..=n {
        if around != 0 && (around - j).abs() > context {
            continue;
        }
        log_source_line(j);
    }
}

/// C's `atoi`.
fn atoi(s: &[u8]) -> i64 {
    let s: Vec<u8> = s
        .iter()
        .copied()
        .skip_while(|c| c.is_ascii_whitespace())
        .collect();
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, &s[..]),
    };
    let mut v: i64 = 0;
    for &c in digits.iter().take_while(|c| c.is_ascii_digit()) {
        v = v.wrapping_mul(10).wrapping_add(i64::from(c - b'0'));
    }
    if neg {
        -v
    } else {
        v
    }
}

/// What parsing the input gave.
enum Parsed {
    Command(Vec<Vec<u8>>),
    More,
    ProtocolError,
}

/// Redis's forgiving parser of the debugger's input: `*<n>` then `n`
/// bulk strings of 1 to 1024 bytes.
fn parse_command(buf: &[u8]) -> Parsed {
    if buf.is_empty() {
        return Parsed::More;
    }
    // C string functions stop at a NUL.
    let c_end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let Some(star) = buf[..c_end].iter().position(|&b| b == b'*') else {
        return Parsed::ProtocolError;
    };
    let find_crlf = |from: usize| -> Option<usize> {
        let end = buf[from..]
            .iter()
            .position(|&b| b == 0)
            .map_or(buf.len(), |e| from + e);
        buf[from..end]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|i| from + i)
    };
    let Some(crlf) = find_crlf(star) else {
        return Parsed::More;
    };
    let argc = atoi(&buf[star + 1..crlf]);
    if argc <= 0 || argc > 1024 {
        return Parsed::ProtocolError;
    }
    let mut p = crlf + 2;
    let mut argv = Vec::new();
    while (argv.len() as i64) < argc {
        match buf.get(p) {
            None | Some(0) => return Parsed::More,
            Some(b'$') => {}
            Some(_) => return Parsed::ProtocolError,
        }
        let Some(crlf) = find_crlf(p) else {
            return Parsed::More;
        };
        let slen = atoi(&buf[p + 1..crlf]);
        if slen <= 0 || slen > 1024 {
            return Parsed::ProtocolError;
        }
        p = crlf + 2;
        let slen = slen as usize;
        if p + slen + 2 > buf.len() {
            return Parsed::More;
        }
        argv.push(buf[p..p + slen].to_vec());
        p += slen;
        if &buf[p..p + 2] != b"\r\n" {
            return Parsed::ProtocolError;
        }
        p += 2;
    }
    Parsed::Command(argv)
}

/// How the debugger's prompt ended.
enum Repl {
    /// Run the script on.
    Resume,
    /// The client went away.
    Gone,
    /// Raise this error in the script.
    Raise(&'static str),
}

fn is(cmd: &[u8], short: &str, long: &str) -> bool {
    cmd.eq_ignore_ascii_case(short.as_bytes()) || cmd.eq_ignore_ascii_case(long.as_bytes())
}

/// Reads and runs debugger commands until one resumes the script.
unsafe fn repl(l: State) -> Repl {
    loop {
        let argv = loop {
            let parsed = with(|d| parse_command(&d.cbuf));
            match parsed {
                Parsed::Command(a) => break a,
                Parsed::ProtocolError => return Repl::Raise("protocol error"),
                Parsed::More => {}
            }
            let fd = with(|d| d.fd);
            let Some(data) = read_some(fd) else {
                with(|d| {
                    d.step = false;
                    d.bp.clear();
                });
                return Repl::Gone;
            };
            let too_big = with(|d| {
                d.cbuf.extend_from_slice(&data);
                if d.cbuf.len() > 1 << 20 {
                    d.cbuf.clear();
                    true
                } else {
                    false
                }
            });
            if too_big {
                return Repl::Raise("max client buffer reached");
            }
        };
        with(|d| d.cbuf.clear());
        let cmd = argv[0].as_slice();
        let argc = argv.len();
        if is(cmd, "h", "help") {
            for line in HELP {
                log(line.as_bytes().to_vec());
            }
            send_logs();
        } else if is(cmd, "s", "step") || is(cmd, "n", "next") {
            with(|d| d.step = true);
            return Repl::Resume;
        } else if is(cmd, "c", "continue") {
            return Repl::Resume;
        } else if is(cmd, "t", "trace") {
            trace(l);
            send_logs();
        } else if is(cmd, "m", "maxlen") {
            maxlen(&argv);
            send_logs();
        } else if is(cmd, "b", "break") {
            breakpoints(&argv);
            send_logs();
        } else if is(cmd, "e", "eval") {
            eval(l, &argv);
            send_logs();
        } else if is(cmd, "a", "abort") {
            return Repl::Raise("script aborted for user request");
        } else if argc > 1 && is(cmd, "r", "redis") {
            redis(l, &argv);
            send_logs();
        } else if is(cmd, "p", "print") {
            if argc == 2 {
                print_var(l, &argv[1]);
            } else {
                print_all(l);
            }
            send_logs();
        } else if is(cmd, "l", "list") {
            let mut around = with(|d| d.currentline);
            let mut ctx = 5;
            if argc > 1 {
                let n = atoi(&argv[1]) as i32;
                if n > 0 {
                    around = n;
                }
            }
            if argc > 2 {
                ctx = atoi(&argv[2]) as i32;
            }
            list(around, ctx);
            send_logs();
        } else if is(cmd, "w", "whole") {
            list(1, 1_000_000);
            send_logs();
        } else {
            log(
                b"<error> Unknown Redis Lua debugger command or wrong number of arguments."
                    .to_vec(),
            );
            send_logs();
        }
    }
}

/// The debugger's own help text.
const HELP: &[&str] = &[
    "Redis Lua debugger help:",
    "[h]elp               This help.",
    "[s]tep               Run the current line and stop at the next.",
    "[n]ext               Same as step.",
    "[c]ontinue           Run until the next breakpoint.",
    "[l]ist               Show the source around the current line.",
    "[l]ist [line]        Show the source around [line] (0: the current one).",
    "[l]ist [line] [ctx]  With [ctx] lines before and after.",
    "[w]hole              Show the whole source.",
    "[p]rint              Show the local variables.",
    "[p]rint <var>        Show a variable (KEYS and ARGV too).",
    "[b]reak              Show the breakpoints.",
    "[b]reak <line>       Set a breakpoint at <line>.",
    "[b]reak -<line>      Remove the breakpoint at <line>.",
    "[b]reak 0            Remove every breakpoint.",
    "[t]race              Show the call stack.",
    "[e]val <code>        Run Lua code in its own frame.",
    "[r]edis <cmd>        Run a command.",
    "[m]axlen [len]       Cut logged replies and values at len (0: never).",
    "[a]bort              Stop the script (its changes stay).",
    "",
    "From scripts: redis.debug(...) logs to this console, and",
    "redis.breakpoint() stops at the next line.",
];

fn maxlen(argv: &[Vec<u8>]) {
    with(|d| {
        if argv.len() == 2 {
            let mut v = atoi(&argv[1]).max(0) as usize;
            d.maxlen_hint_sent = true;
            if v != 0 && v <= 60 {
                v = 60;
            }
            d.maxlen = v;
        }
        let line = if d.maxlen > 0 {
            format!("<value> replies are truncated at {} bytes.", d.maxlen)
        } else {
            "<value> replies are unlimited.".to_string()
        };
        d.logs.push(line.into_bytes());
    });
}

fn breakpoints(argv: &[Vec<u8>]) {
    if argv.len() == 1 {
        let bps = with(|d| d.bp.clone());
        if bps.is_empty() {
            log(b"No breakpoints set. Use 'b <line>' to add one.".to_vec());
        } else {
            log(format!("{} breakpoints set:", bps.len()).into_bytes());
            for b in bps {
                log_source_line(b);
            }
        }
        return;
    }
    for arg in &argv[1..] {
        let line = std::str::from_utf8(arg)
            .ok()
            .and_then(|s| s.parse::<i64>().ok());
        let Some(line) = line else {
            let mut s = b"Invalid argument:'".to_vec();
            s.extend_from_slice(arg);
            s.push(b'\'');
            log(s);
            continue;
        };
        if line == 0 {
            with(|d| d.bp.clear());
            log(b"All breakpoints removed.".to_vec());
        } else if line > 0 {
            let line = line as i32;
            let added = with(|d| {
                if d.bp.len() == BREAKPOINTS_MAX {
                    return Err("Too many breakpoints set.");
                }
                if line as usize > d.src.len() {
                    return Err("Wrong line number.");
                }
                if d.bp.contains(&line) {
                    return Err("Wrong line number.");
                }
                d.bp.push(line);
                Ok(())
            });
            match added {
                Ok(()) => list(line, 1),
                Err(m) => log(m.as_bytes().to_vec()),
            }
        } else {
            let line = (-line) as i32;
            let removed = with(|d| match d.bp.iter().position(|&b| b == line) {
                Some(i) => {
                    d.bp.remove(i);
                    true
                }
                None => false,
            });
            log(if removed {
                b"Breakpoint removed.".to_vec()
            } else {
                b"No breakpoint in the specified line.".to_vec()
            });
        }
    }
}

unsafe fn eval(l: State, argv: &[Vec<u8>]) {
    let code = argv[1..].join(&b' ');
    let mut expr = b"return ".to_vec();
    expr.extend_from_slice(&code);
    let load =
        |b: &[u8]| ffi::luaL_loadbuffer(l, b.as_ptr() as *const _, b.len(), c"@ldb_eval".as_ptr());
    ffi::lua_checkstack(l, 3);
    if load(&expr) != 0 {
        ffi::lua_pop(l, 1);
        if load(&code) != 0 {
            let mut s = b"<error> ".to_vec();
            s.extend_from_slice(lua::to_bytes(l, -1).unwrap_or_default());
            log(s);
            ffi::lua_pop(l, 1);
            return;
        }
    }
    if ffi::lua_pcall(l, 0, 1, 0) != 0 {
        let mut s = b"<error> ".to_vec();
        s.extend_from_slice(lua::to_bytes(l, -1).unwrap_or_default());
        log(s);
        ffi::lua_pop(l, 1);
        return;
    }
    log_value(l, b"<retval> ");
    ffi::lua_pop(l, 1);
}

/// The `redis` command: `redis.call` with stepping forced on, so the
/// command and its reply are logged.
unsafe fn redis(l: State, argv: &[Vec<u8>]) {
    let argc = argv.len() as c_int;
    if ffi::lua_checkstack(l, argc + 1) == 0 {
        log_reply(b"max lua stack reached");
        return;
    }
    ffi::lua_getfield_(l, ffi::LUA_GLOBALSINDEX, c"redis".as_ptr());
    lua::raw_get_field(l, -1, c"call");
    for a in &argv[1..] {
        lua::push_bytes(l, a);
    }
    with(|d| d.step = true);
    ffi::lua_pcall(l, argc - 1, 1, 0);
    with(|d| d.step = false);
    ffi::lua_pop(l, 2);
}

unsafe fn trace(l: State) {
    let mut level = 0;
    let mut ar: ffi::lua_Debug = std::mem::zeroed();
    while ffi::lua_getstack(l, level, &mut ar) != 0 {
        ffi::lua_getinfo(l, c"Snl".as_ptr(), &mut ar);
        let short = CStr::from_ptr(ar.short_src.as_ptr()).to_bytes();
        if short.windows(11).any(|w| w == b"user_script") {
            let name = if ar.name.is_null() {
                "top level".to_string()
            } else {
                CStr::from_ptr(ar.name).to_string_lossy().into_owned()
            };
            let which = if level == 0 { "In" } else { "From" };
            log(format!("{which} {name}:").into_bytes());
            log_source_line(ar.currentline);
        }
        level += 1;
    }
    if level == 0 {
        log(b"<error> Can't retrieve Lua stack.".to_vec());
    }
}

unsafe fn print_var(l: State, name: &[u8]) {
    let mut ar: ffi::lua_Debug = std::mem::zeroed();
    let mut level = 0;
    ffi::lua_checkstack(l, 3);
    while ffi::lua_getstack(l, level, &mut ar) != 0 {
        level += 1;
        let mut i = 1;
        loop {
            let n = ffi::lua_getlocal(l, &ar, i);
            if n.is_null() {
                break;
            }
            i += 1;
            if CStr::from_ptr(n).to_bytes() == name {
                log_value(l, b"<value> ");
                ffi::lua_pop(l, 1);
                return;
            }
            ffi::lua_pop(l, 1);
        }
    }
    if name == b"ARGV" || name == b"KEYS" {
        lua::push_bytes(l, name);
        ffi::lua_rawget_(l, ffi::LUA_GLOBALSINDEX);
        log_value(l, b"<value> ");
        ffi::lua_pop(l, 1);
    } else {
        log(b"No such variable.".to_vec());
    }
}

unsafe fn print_all(l: State) {
    let mut ar: ffi::lua_Debug = std::mem::zeroed();
    let mut vars = 0;
    ffi::lua_checkstack(l, 3);
    if ffi::lua_getstack(l, 0, &mut ar) != 0 {
        let mut i = 1;
        loop {
            let n = ffi::lua_getlocal(l, &ar, i);
            if n.is_null() {
                break;
            }
            i += 1;
            let name = CStr::from_ptr(n).to_bytes();
            if !name.windows(12).any(|w| w == b"(*temporary)") {
                let mut prefix = b"<value> ".to_vec();
                prefix.extend_from_slice(name);
                prefix.extend_from_slice(b" = ");
                log_value(l, &prefix);
                vars += 1;
            }
            ffi::lua_pop(l, 1);
        }
    }
    if vars == 0 {
        log(b"No local variables in the current context.".to_vec());
    }
}

/// What the line hook decided.
enum Verdict {
    Continue,
    Stop(&'static str),
}

/// The hook of a debugged script: on every line (and every 100 000
/// instructions, to stop a runaway script after `busy-reply-threshold`),
/// stops where asked and runs the prompt.
///
/// # Safety
/// Called by Lua only.
pub unsafe extern "C-unwind" fn hook(l: State, ar: *mut ffi::lua_Debug) {
    let verdict = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decide(l, ar)))
        .unwrap_or(Verdict::Continue);
    if let Verdict::Stop(text) = verdict {
        lua::push_error_table(l, text.as_bytes());
        ffi::lua_error(l);
    }
}

unsafe fn decide(l: State, ar: *mut ffi::lua_Debug) -> Verdict {
    let event = (*ar).event;
    ffi::lua_getstack(l, 0, ar);
    ffi::lua_getinfo(l, c"Sl".as_ptr(), ar);
    let line = (*ar).currentline;
    let (bp, step, luabp) = with(|d| {
        d.currentline = line;
        (d.bp.contains(&line) || d.luabp, d.step, d.luabp)
    });
    let short = CStr::from_ptr((*ar).short_src.as_ptr()).to_bytes();
    if !short.windows(11).any(|w| w == b"user_script") {
        return Verdict::Continue;
    }
    let mut timeout = false;
    if event == ffi::LUA_HOOKCOUNT && !step && !bp {
        let run = super::vm::shared(l).run.get();
        let limit = if run.is_null() {
            5000
        } else {
            let t = (*(*run).srv)
                .config
                .get_int(crate::config::Directive::BusyReplyThreshold);
            if t > 0 {
                t
            } else {
                5000
            }
        };
        let elapsed = with(|d| d.resumed.elapsed().as_millis() as i64);
        if elapsed < limit {
            return Verdict::Continue;
        }
        timeout = true;
        with(|d| d.step = true);
    }
    if !(with(|d| d.step) || bp) {
        return Verdict::Continue;
    }
    let reason = if bp {
        if luabp {
            "redis.breakpoint() called"
        } else {
            "break point"
        }
    } else if timeout {
        "timeout reached, infinite loop?"
    } else {
        "step over"
    };
    with(|d| {
        d.step = false;
        d.luabp = false;
    });
    log(format!("* Stopped at {line}, stop reason = {reason}").into_bytes());
    log_source_line(line);
    send_logs();
    match repl(l) {
        Repl::Raise(msg) => return Verdict::Stop(msg),
        Repl::Gone if timeout => {
            return Verdict::Stop("timeout during Lua debugging with client closing connection")
        }
        Repl::Gone | Repl::Resume => {}
    }
    with(|d| d.resumed = Instant::now());
    Verdict::Continue
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debugger_parses_commands_with_any_bytes() {
        match parse_command(b"*1\r\n$11\r\nhello\0world\r\n") {
            Parsed::Command(a) => assert_eq!(a, vec![b"hello\0world".to_vec()]),
            _ => panic!("not parsed"),
        }
        assert!(matches!(parse_command(b"*2\r\n$1\r\na\r\n"), Parsed::More));
        assert!(matches!(parse_command(b"hello"), Parsed::ProtocolError));
        assert!(matches!(
            parse_command(b"*1\r\n$0\r\n\r\n"),
            Parsed::ProtocolError
        ));
    }

    #[test]
    fn replies_read_as_the_debugger_shows_them() {
        let mut o = Vec::new();
        human(b"*3\r\n$1\r\na\r\n:2\r\n$-1\r\n", &mut 0, &mut o);
        assert_eq!(o, b"[\"a\",2,NULL]");
    }
}
