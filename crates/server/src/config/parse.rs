//! redis.conf syntax: lines split with Redis's quoting rules, `include`,
//! command-line `--directive value` overrides, and the fatal error block
//! Redis prints for a bad line.

use super::table::{Def, Kind, Special};
use super::{Config, ConfigError, Val};
use crate::config::Directive;
use std::path::Path;

/// A config error, printed as Redis prints it. Three forms:
/// - `line_no > 0`: a bad line, Redis's FATAL block naming it;
/// - `line_no == 0` with `line` the path: a file that cannot be read,
///   which Redis logs as a plain message;
/// - `line_no == 0` with an empty `line`: a problem found once every line
///   was read (the log file cannot be opened), a FATAL block without line.
#[derive(Debug, Clone, PartialEq)]
pub struct FileError {
    pub line_no: usize,
    pub line: String,
    pub reason: String,
}

impl FileError {
    /// Whether a config file could not be read (logged, not a FATAL block).
    pub fn is_open_failure(&self) -> bool {
        self.line_no == 0 && !self.line.is_empty()
    }
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_open_failure() {
            return write!(f, "{}", self.reason);
        }
        if self.line_no == 0 {
            return write!(
                f,
                "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n{}",
                self.reason
            );
        }
        write!(
            f,
            "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file, at line {}\n>>> '{}'\n{}",
            self.line_no, self.line, self.reason
        )
    }
}

pub(super) fn split_default(s: &str) -> Vec<String> {
    if s.is_empty() {
        return vec![String::new()];
    }
    s.split(' ').map(str::to_string).collect()
}

/// Parses a memory size as Redis's `memtoull`: a non-negative number with
/// an optional unit `b k kb m mb g gb` (case-insensitive; `k` is 1000,
/// `kb` 1024).
pub fn parse_memory(s: &str) -> Option<i64> {
    let lower = s.to_ascii_lowercase();
    let (num, mul): (&str, i64) = if let Some(n) = lower.strip_suffix("gb") {
        (n, 1024 * 1024 * 1024)
    } else if let Some(n) = lower.strip_suffix("mb") {
        (n, 1024 * 1024)
    } else if let Some(n) = lower.strip_suffix("kb") {
        (n, 1024)
    } else if let Some(n) = lower.strip_suffix('g') {
        (n, 1_000_000_000)
    } else if let Some(n) = lower.strip_suffix('m') {
        (n, 1_000_000)
    } else if let Some(n) = lower.strip_suffix('k') {
        (n, 1000)
    } else if let Some(n) = lower.strip_suffix('b') {
        (n, 1)
    } else {
        (lower.as_str(), 1)
    };
    if num.is_empty() || !num.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let v: i64 = num.parse().ok()?;
    v.checked_mul(mul)
}

/// Renders a byte count as `CONFIG REWRITE` writes it: the largest of
/// `gb`, `mb`, `kb` that divides it exactly.
pub fn format_memory(n: i64) -> String {
    const KB: i64 = 1024;
    if n != 0 && n % (KB * KB * KB) == 0 {
        format!("{}gb", n / (KB * KB * KB))
    } else if n != 0 && n % (KB * KB) == 0 {
        format!("{}mb", n / (KB * KB))
    } else if n != 0 && n % KB == 0 {
        format!("{}kb", n / KB)
    } else {
        n.to_string()
    }
}

fn invalid(s: &str) -> ConfigError {
    ConfigError::Invalid(s.to_string())
}

const NOT_INT: &str = "argument couldn't be parsed into an integer";
const WRONG_ARGS: &str = "wrong number of arguments";

fn int_arg(s: &str) -> Result<i64, ConfigError> {
    resp::parse_i64(s.as_bytes()).ok_or_else(|| invalid(NOT_INT))
}

fn in_range(v: i64, min: i64, max: i64) -> Result<i64, ConfigError> {
    if v < min || v > max {
        return Err(ConfigError::Invalid(format!(
            "argument must be between {min} and {max} inclusive"
        )));
    }
    Ok(v)
}

fn one_of(words: &[&str]) -> ConfigError {
    ConfigError::Invalid(format!(
        "argument(s) must be one of the following: {}",
        words.join(", ")
    ))
}

fn parse_special(which: Special, args: &[String], current: &Val) -> Result<Val, ConfigError> {
    let words = || -> Vec<String> { args.iter().filter(|a| !a.is_empty()).cloned().collect() };
    Ok(match which {
        Special::Save => {
            let w = words();
            let bad = || invalid("Invalid save parameters");
            if w.len() % 2 == 1 {
                return Err(bad());
            }
            let mut out = Vec::with_capacity(w.len());
            for a in &w {
                out.push(int_arg(a).map_err(|_| bad())?.to_string());
            }
            Val::List(out)
        }
        Special::Bind => {
            let w = words();
            if w.len() > 16 {
                return Err(invalid("Too many bind addresses specified."));
            }
            Val::List(w)
        }
        Special::ClientOutputBufferLimit => {
            let w = words();
            if w.len() % 4 != 0 || w.is_empty() {
                return Err(invalid(
                    "Wrong number of arguments in buffer limit configuration.",
                ));
            }
            let mut cur: Vec<String> = match current {
                Val::List(l) if l.len() == 12 => l.clone(),
                _ => DEFAULT_COBL.split(' ').map(str::to_string).collect(),
            };
            for g in w.chunks(4) {
                let slot = match g[0].to_ascii_lowercase().as_str() {
                    "normal" => 0,
                    "replica" | "slave" => 4,
                    "pubsub" => 8,
                    _ => {
                        return Err(invalid(
                            "Invalid client class specified in buffer limit configuration.",
                        ))
                    }
                };
                let bad = || {
                    invalid("Error in hard, soft or soft_seconds setting in buffer limit configuration.")
                };
                let hard = parse_memory(&g[1]).ok_or_else(bad)?;
                let soft = parse_memory(&g[2]).ok_or_else(bad)?;
                let secs = int_arg(&g[3]).map_err(|_| bad())?;
                if secs < 0 {
                    return Err(bad());
                }
                cur[slot + 1] = hard.to_string();
                cur[slot + 2] = soft.to_string();
                cur[slot + 3] = secs.to_string();
            }
            Val::List(cur)
        }
        Special::OomScoreAdjValues => {
            let w = words();
            if w.len() != 3 {
                return Err(invalid("wrong number of arguments"));
            }
            let mut out = Vec::new();
            for a in &w {
                match resp::parse_i64(a.as_bytes()) {
                    Some(v) if (-2000..=2000).contains(&v) => out.push(v.to_string()),
                    _ => return Err(invalid(
                        "Invalid oom-score-adj-values, elements must be between -2000 and 2000.",
                    )),
                }
            }
            Val::List(out)
        }
        Special::NotifyKeyspaceEvents => {
            if args.len() != 1 {
                return Err(invalid(WRONG_ARGS));
            }
            // Kept as class bits: the rendered form drops `n` under `A`
            // (as Redis shows it), so it cannot be the source of truth.
            let bits = crate::notify::parse_flags(args[0].as_bytes())
                .ok_or_else(|| invalid("Invalid event class character. Use 'Ag$lshzxeKEtmdn'."))?;
            Val::Int(i64::from(bits))
        }
        Special::Replicaof => {
            let w = words();
            if w.is_empty() {
                return Ok(Val::List(Vec::new()));
            }
            if w.len() != 2 {
                return Err(invalid(WRONG_ARGS));
            }
            if w[0].eq_ignore_ascii_case("no") && w[1].eq_ignore_ascii_case("one") {
                return Ok(Val::List(Vec::new()));
            }
            let port = int_arg(&w[1]).map_err(|_| invalid("Invalid master port"))?;
            Val::List(vec![w[0].clone(), port.to_string()])
        }
        Special::LatencyPercentiles => {
            let mut out = Vec::new();
            for a in words() {
                let v: f64 = a
                    .parse()
                    .ok()
                    .filter(|v: &f64| v.is_finite())
                    .ok_or_else(|| {
                        invalid("Invalid latency-tracking-info-percentiles parameters")
                    })?;
                if !(0.0..=100.0).contains(&v) {
                    return Err(invalid(
                        "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]",
                    ));
                }
                out.push(format!("{v}"));
            }
            Val::List(out)
        }
        Special::MaxmemoryClients => {
            if args.len() != 1 {
                return Err(invalid(WRONG_ARGS));
            }
            let a = &args[0];
            if let Some(p) = a.strip_suffix('%') {
                let v = resp::parse_i64(p.as_bytes())
                    .filter(|v| *v >= 0)
                    .ok_or_else(|| invalid("argument must be a memory or percent value"))?;
                if v > 100 {
                    return Err(invalid("percentage argument must be less or equal to 100"));
                }
                Val::Str(format!("{v}%"))
            } else {
                let v = parse_memory(a)
                    .ok_or_else(|| invalid("argument must be a memory or percent value"))?;
                Val::Str(v.to_string())
            }
        }
        Special::FlagsEnum(words_ok) => {
            let given = words();
            // No word at all is no value (Redis refuses it, as it refuses
            // an unknown one).
            if given.is_empty() {
                return Err(one_of(words_ok));
            }
            let mut on = vec![false; words_ok.len()];
            for a in given {
                let i = words_ok
                    .iter()
                    .position(|w| w.eq_ignore_ascii_case(&a))
                    .ok_or_else(|| one_of(words_ok))?;
                on[i] = true;
            }
            // The first word is the "no flags" value (`default`).
            let set: Vec<String> = words_ok
                .iter()
                .zip(&on)
                .skip(1)
                .filter(|(_, on)| **on)
                .map(|(w, _)| w.to_string())
                .collect();
            if set.is_empty() {
                Val::Str(words_ok.first().copied().unwrap_or("").to_string())
            } else {
                Val::Str(set.join(" "))
            }
        }
        Special::ProcTitleTemplate => {
            if args.len() != 1 {
                return Err(invalid(WRONG_ARGS));
            }
            if !valid_title_template(&args[0]) {
                return Err(invalid(
                    "template format is invalid or contains unknown variables",
                ));
            }
            Val::Str(args[0].clone())
        }
    })
}

/// A process title template may only use Redis's known `{variables}`,
/// with balanced braces, and must not expand to nothing.
fn valid_title_template(t: &str) -> bool {
    const VARS: &[&str] = &[
        "title",
        "listen-addr",
        "server-mode",
        "port",
        "tls-port",
        "unixsocket",
        "config-file",
    ];
    let mut rest = t;
    while let Some(open) = rest.find(['{', '}']) {
        if rest.as_bytes()[open] == b'}' {
            return false;
        }
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return false;
        };
        if !VARS.contains(&&after[..close]) {
            return false;
        }
        rest = &after[close + 1..];
    }
    !t.trim().is_empty()
}

const DEFAULT_COBL: &str = "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60";

/// Parses the arguments of one directive according to its definition and
/// checks the value against what this server can do. `current` is the
/// value it replaces (a `client-output-buffer-limit` line changes only the
/// classes it names).
pub fn parse_value(def: &Def, args: &[String], current: &Val) -> Result<Val, ConfigError> {
    let v = parse_typed(def, args, current)?;
    check_value(def, &v)?;
    Ok(v)
}

/// Values that parse but that Redis refuses (its `isValid*` checks), or
/// that name machinery this server does not have. A config line and
/// `CONFIG SET` both come through here, so a refused value stops start-up
/// with the FATAL block and fails `CONFIG SET` with the same reason.
fn check_value(def: &Def, v: &Val) -> Result<(), ConfigError> {
    match (def.name, v) {
        // Active defragmentation needs Redis's patched jemalloc. Like a
        // Redis built on another allocator (Debian's, for one), we refuse
        // to turn it on; its knobs stay settable and do nothing.
        ("activedefrag", Val::Bool(true)) => Err(invalid(
            "Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution",
        )),
        // Redis checks the hostname a node announces: it travels in the
        // bus's hostname extension and in redirections.
        ("cluster-announce-hostname", Val::Str(h)) => {
            if h.len() >= 256 {
                return Err(invalid("Hostnames must be less than 256 characters"));
            }
            if !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
                return Err(invalid(
                    "Hostnames may only contain alphanumeric characters, hyphens or dots",
                ));
            }
            Ok(())
        }
        ("shutdown-on-sigint" | "shutdown-on-sigterm", Val::Str(flags)) => {
            let mut words = flags.split(' ');
            if words.clone().any(|w| w == "save") && words.any(|w| w == "nosave") {
                return Err(invalid(
                    "shutdown options SAVE and NOSAVE can't be used simultaneously",
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn parse_typed(def: &Def, args: &[String], current: &Val) -> Result<Val, ConfigError> {
    let one = || -> Result<&String, ConfigError> {
        if args.len() == 1 {
            Ok(&args[0])
        } else {
            Err(invalid(WRONG_ARGS))
        }
    };
    Ok(match def.kind {
        Kind::Bool => match one()?.to_ascii_lowercase().as_str() {
            "yes" => Val::Bool(true),
            "no" => Val::Bool(false),
            _ => return Err(invalid("argument must be 'yes' or 'no'")),
        },
        Kind::Int { min, max } => {
            let mut v = in_range(int_arg(one()?)?, min, max)?;
            // Redis clamps hz into 1..=500 and shows the clamped value.
            if def.name == "hz" {
                v = v.clamp(1, 500);
            }
            Val::Int(v)
        }
        Kind::Memory { min, max } => {
            let v =
                parse_memory(one()?).ok_or_else(|| invalid("argument must be a memory value"))?;
            Val::Int(in_range(v, min, max)?)
        }
        Kind::Octal => {
            let a = one()?;
            let v = i64::from_str_radix(a, 8)
                .map_err(|_| invalid("argument couldn't be parsed as an octal number"))?;
            // Redis states an octal setting's bounds in octal too.
            if !(0..=0o777).contains(&v) {
                return Err(invalid("argument must be between 0 and 777 inclusive"));
            }
            Val::Int(v)
        }
        Kind::Enum(words) => {
            let a = one()?.to_ascii_lowercase();
            if !words.contains(&a.as_str()) {
                return Err(one_of(words));
            }
            // `oom-score-adj relative` is the same setting as `yes`, and
            // Redis shows it as `yes`.
            if a == "relative" {
                return Ok(Val::Str("yes".into()));
            }
            Val::Str(a)
        }
        Kind::Str => {
            let a = one()?;
            // Files named by these settings live in `dir`.
            if a.contains('/') {
                let what = match def.name {
                    "dbfilename" | "appendfilename" => "filename",
                    "appenddirname" => "dirname",
                    _ => "",
                };
                if !what.is_empty() {
                    return Err(ConfigError::Invalid(format!(
                        "{} can't be a path, just a {what}",
                        def.name
                    )));
                }
            }
            Val::Str(a.clone())
        }
        Kind::List => Val::List(args.iter().filter(|a| !a.is_empty()).cloned().collect()),
        Kind::Special(which) => parse_special(which, args, current)?,
    })
}

/// Quotes a string as Redis's `sdscatrepr`: in double quotes, with `\\`,
/// `\"`, `\n`, `\r`, `\t`, `\a`, `\b` escaped and other unprintable
/// bytes as `\xHH`.
pub fn repr(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for &c in s {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.push(c as char),
            c => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push('"');
    out
}

impl Config {
    /// Loads a config file (following `include`s) and then the
    /// command-line overrides, in that order, as redis-server does.
    pub fn load(
        file: Option<&Path>,
        overrides: &[(String, Vec<String>)],
    ) -> Result<Config, FileError> {
        let mut options = String::new();
        for (name, args) in overrides {
            if !options.is_empty() {
                options.push('\n');
            }
            options.push_str(name);
            for a in args {
                options.push(' ');
                options.push_str(&repr(a.as_bytes()));
            }
        }
        Config::load_with_options(file, None, &options)
    }

    /// Loads a config file, then config lines read from standard input
    /// (`redis-server -`), then `options`: command-line directives already
    /// joined into config lines as redis-server does it (see the binary's
    /// argument parsing).
    pub fn load_with_options(
        file: Option<&Path>,
        stdin: Option<&str>,
        options: &str,
    ) -> Result<Config, FileError> {
        Config::load_in_mode(file, stdin, options, None)
    }

    /// As [`Config::load_with_options`], for a server running in `mode`:
    /// the mode's default port applies and its own lines are kept for it.
    pub fn load_in_mode(
        file: Option<&Path>,
        stdin: Option<&str>,
        options: &str,
        mode: Option<&'static crate::mode::Mode>,
    ) -> Result<Config, FileError> {
        let mut cfg = Config::new();
        if let Some(m) = mode {
            cfg.mode = Some(m);
            let _ = cfg.set("port", &[m.default_port.to_string()]);
            // Sentinels talk to each other across hosts without passwords
            // by default, so Redis turns protected mode off for them.
            let _ = cfg.set("protected-mode", &["no".to_string()]);
            // Nor does a sentinel keep a dataset to save.
            let _ = cfg.set("save", &[String::new()]);
        }
        let mut text = String::new();
        if let Some(f) = file {
            // Made absolute first, as Redis does, so messages name the full
            // path and CONFIG REWRITE finds the file after `dir` chdirs.
            let f = std::path::absolute(f).unwrap_or_else(|_| f.to_path_buf());
            text = read_config_file(&f)?;
            cfg.file = Some(f);
        }
        if let Some(lines) = stdin {
            text.push_str(lines);
        }
        // Redis appends the options to the file's text after a newline, so
        // a bad option is reported as a config line numbered after the
        // file's.
        if !options.is_empty() {
            text.push('\n');
            text.push_str(options);
        }
        cfg.load_text(&text, 0)?;
        if let Some(m) = cfg.mode {
            (m.check_config)(&cfg).map_err(|(line_no, line, reason)| FileError {
                line_no,
                line,
                reason,
            })?;
        }
        // As Redis, the log file must be writable before start-up goes on.
        let logfile = cfg.get_str(Directive::Logfile);
        if !logfile.is_empty() {
            if let Err(e) = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&logfile)
            {
                return Err(FileError {
                    line_no: 0,
                    line: String::new(),
                    reason: format!("Can't open the log file: {}", super::strerror(&e)),
                });
            }
        }
        Ok(cfg)
    }

    /// Parses config text alone, as a file's lines, without touching the
    /// file system: `include` lines are skipped and `dir` is not entered.
    /// The config parser's fuzz target drives this.
    pub fn parse_text(text: &str) -> Result<Config, FileError> {
        let mut cfg = Config::new();
        cfg.no_fs = true;
        cfg.load_text(text, 0)?;
        Ok(cfg)
    }

    pub(super) fn load_text(&mut self, text: &str, depth: usize) -> Result<(), FileError> {
        for (i, raw) in text.split('\n').enumerate() {
            let line = raw.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\r' | '\n'));
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |reason: String| FileError {
                line_no: i + 1,
                line: line.to_string(),
                reason,
            };
            let args = resp::split_args::split_args_owned(line.as_bytes())
                .map_err(|_| err("Unbalanced quotes in configuration line".into()))?;
            let args: Vec<String> = args
                .into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect();
            let Some((name, rest)) = args.split_first() else {
                continue;
            };
            let lname = name.to_ascii_lowercase();
            // A multi-argument directive given one non-empty argument
            // (`--save "900 1"` on a command line) takes its words.
            let split;
            let rest = match self.lookup(&lname) {
                Some((_, def))
                    if super::is_multi_arg(def) && rest.len() == 1 && !rest[0].is_empty() =>
                {
                    split = resp::split_args::split_args_owned(rest[0].as_bytes())
                        .map_err(|_| err("Unbalanced quotes in configuration line".into()))?
                        .into_iter()
                        .map(|a| String::from_utf8_lossy(&a).into_owned())
                        .collect::<Vec<String>>();
                    &split[..]
                }
                _ => rest,
            };
            match lname.as_str() {
                "include" if rest.len() == 1 && self.no_fs => {}
                "include" if rest.len() == 1 => {
                    if depth > 16 {
                        return Err(err("Too many nested includes".into()));
                    }
                    for path in include_paths(&rest[0]) {
                        let inc = read_config_file(&path)?;
                        self.load_text(&inc, depth + 1)?;
                    }
                }
                "rename-command" if rest.len() == 2 => {
                    let known = (command_meta::specs::ALL
                        .iter()
                        .any(|m| m.name.eq_ignore_ascii_case(&rest[0]))
                        && !self
                            .renames
                            .iter()
                            .any(|(f, _)| f.eq_ignore_ascii_case(&rest[0])))
                        || self
                            .renames
                            .iter()
                            .any(|(_, t)| !t.is_empty() && t.eq_ignore_ascii_case(&rest[0]));
                    if !known {
                        return Err(err("No such command in rename-command".into()));
                    }
                    // The new name must be free in the table as renamed so
                    // far (a name renamed away is free again).
                    let to = &rest[1];
                    let taken = !to.is_empty()
                        && ((command_meta::specs::ALL
                            .iter()
                            .any(|m| m.name.eq_ignore_ascii_case(to))
                            && !self.renames.iter().any(|(f, _)| f.eq_ignore_ascii_case(to)))
                            || self.renames.iter().any(|(_, t)| t.eq_ignore_ascii_case(to)));
                    if taken {
                        return Err(err("Target command name already exists".into()));
                    }
                    self.renames.push((rest[0].clone(), rest[1].clone()));
                }
                // `user` lines are checked now and become users at
                // start-up (`acl::file`); modules belong to a later issue,
                // their lines are kept for it.
                "user" if !rest.is_empty() => {
                    crate::acl::file::check_config_user(rest, &self.users).map_err(err)?;
                    self.users.push(rest.to_vec())
                }
                "loadmodule" if !rest.is_empty() => self.modules.push(rest.to_vec()),
                "sentinel" if self.mode.is_some() => {
                    self.mode_lines
                        .push((i + 1, line.to_string(), rest.to_vec()))
                }
                "sentinel" => {
                    return Err(err("sentinel directive while not in sentinel mode".into()))
                }
                "save" => {
                    // The first `save` line of a file replaces the default
                    // points; later ones add to them; `save ""` clears.
                    let mut args = rest.to_vec();
                    if self.save_seen && rest.iter().any(|a| !a.is_empty()) {
                        let mut cur = self.get_list(Directive::Save);
                        cur.extend(args);
                        args = cur;
                    }
                    self.save_seen = true;
                    self.set("save", &args).map_err(|e| err(e.to_string()))?;
                }
                "dir" => {
                    self.set(&lname, rest).map_err(|e| err(e.to_string()))?;
                    // Redis moves into `dir` as soon as it reads it, so
                    // relative paths on later lines (include, logfile) and
                    // a missing folder are resolved and reported here.
                    let dir = self.get_str(Directive::Dir);
                    if self.no_fs {
                        continue;
                    }
                    std::env::set_current_dir(&dir).map_err(|e| err(super::strerror(&e)))?;
                }
                _ => self.set(&lname, rest).map_err(|e| err(e.to_string()))?,
            }
        }
        Ok(())
    }
}

/// The files an `include` names. As in Redis 7.0, a pattern (`*`, `?`,
/// `[...]` in the file name) includes every matching file in name order,
/// and none when nothing matches.
fn include_paths(pattern: &str) -> Vec<std::path::PathBuf> {
    let path = Path::new(pattern);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let Some(name) = name.filter(|n| n.contains(['*', '?', '['])) else {
        return vec![path.to_path_buf()];
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut found: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| {
                    let n = e.file_name();
                    let n = n.to_string_lossy();
                    !n.starts_with('.')
                        && crate::util::glob::matches(name.as_bytes(), n.as_bytes(), false)
                })
                .map(|e| dir.join(e.file_name()))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// Reads a config file; a file that cannot be read stops start-up with
/// Redis's message.
fn read_config_file(f: &Path) -> Result<String, FileError> {
    let bytes = std::fs::read(f).map_err(|e| FileError {
        line_no: 0,
        line: f.display().to_string(),
        reason: format!(
            "Fatal error, can't open config file '{}': {}",
            f.display(),
            super::strerror(&e)
        ),
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("1gb"), Some(1 << 30));
        assert_eq!(parse_memory("64MB"), Some(64 << 20));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("x"), None);
    }

    #[test]
    fn values_without_the_machinery_are_refused_at_start_up() {
        let reason = |text: &str| {
            Config::parse_text(text)
                .err()
                .map(|e| (e.line_no, e.reason))
        };
        let (line, why) = reason("port 7000\nactivedefrag yes\n").unwrap_or_default();
        assert_eq!(line, 2);
        assert!(why.starts_with("Active defragmentation cannot be enabled"));
        assert!(reason("activedefrag no").is_none());
        assert!(reason("cluster-enabled yes").is_none());
        assert!(reason("cluster-enabled no\ncluster-node-timeout 5000").is_none());
        let (_, why) = reason("cluster-announce-hostname ?.com").unwrap_or_default();
        assert!(why.starts_with("Hostnames may only contain"), "{why}");
        let long = format!("cluster-announce-hostname {}", "x".repeat(256));
        let (_, why) = reason(&long).unwrap_or_default();
        assert_eq!(why, "Hostnames must be less than 256 characters");
        assert!(reason("cluster-announce-hostname a-b.c0").is_none());
        assert!(reason("cluster-announce-hostname \"\"").is_none());
        let (_, why) = reason("shutdown-on-sigterm nosave now save").unwrap_or_default();
        assert_eq!(
            why,
            "shutdown options SAVE and NOSAVE can't be used simultaneously"
        );
        assert!(reason("shutdown-on-sigint save now force").is_none());
    }

    #[test]
    fn bad_lines_report_line_and_reason() {
        let mut c = Config::new();
        let e = c.load_text("port 7000\nport abc\n", 0);
        assert_eq!(
            e,
            Err(FileError {
                line_no: 2,
                line: "port abc".into(),
                reason: "argument couldn't be parsed into an integer".into()
            })
        );
        let e = c.load_text("foo bar", 0).err().map(|e| e.reason);
        assert_eq!(
            e.as_deref(),
            Some("Bad directive or wrong number of arguments")
        );
    }
}
