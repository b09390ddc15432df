//! Configuration: redis.conf syntax, command-line overrides and `CONFIG
//! GET/SET` at run time, all driven by one table of directives
//! ([`table::DIRECTIVES`]).
//!
//! Values are kept in their parsed form ([`Val`]) and rendered back as
//! Redis renders them for `CONFIG GET` and `CONFIG REWRITE`. Code reads a
//! setting through [`Directive`] (an index into the table, so a misspelt
//! name does not compile); settings read on every command are also copied
//! into typed fields of the server when they change (see
//! `Server::apply_config`).

pub mod parse;
pub mod rewrite;
pub mod table;

use std::collections::HashMap;
pub use table::Directive;
use table::{Def, Kind, Special, DIRECTIVES};

/// A parsed directive value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Bool(bool),
    Int(i64),
    Str(String),
    /// Space-separated lists and multi-argument directives (`bind`,
    /// `save`, `client-output-buffer-limit`, ...), kept as rendered text.
    List(Vec<String>),
}

/// Why a value was refused; the text follows Redis's wording where the
/// reason is shown to users (config file errors, `CONFIG SET`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("Bad directive or wrong number of arguments")]
    BadDirective,
    #[error("{0}")]
    Invalid(String),
}

/// The server's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    vals: Vec<Val>,
    index: HashMap<&'static str, usize>,
    /// `rename-command` directives in order (from, to).
    pub renames: Vec<(String, String)>,
    /// Path of the config file, for `CONFIG REWRITE` and `INFO`.
    pub file: Option<std::path::PathBuf>,
    /// `user` lines (arguments after the word), for the ACL subsystem.
    pub users: Vec<Vec<String>>,
    /// `loadmodule` lines, kept for a later modules issue.
    pub modules: Vec<Vec<String>>,
    /// Whether a `save` line was read yet (the first one replaces the
    /// default save points, later ones add to them).
    save_seen: bool,
    /// The mode the server runs in (`None`: the standalone cache).
    pub mode: Option<&'static crate::mode::Mode>,
    /// Lines the mode owns (`sentinel ...` in Sentinel mode): line number,
    /// the line's text and its words.
    pub mode_lines: Vec<(usize, String, Vec<String>)>,
    /// Set by [`Config::parse_text`]: `include` and `dir` lines are
    /// validated but not acted on (no file read, no directory change).
    no_fs: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

impl Config {
    /// The defaults of every directive.
    pub fn new() -> Config {
        let mut index = HashMap::new();
        let mut vals = Vec::with_capacity(DIRECTIVES.len());
        for (i, d) in DIRECTIVES.iter().enumerate() {
            index.insert(d.name, i);
            if let Some(a) = d.alias {
                index.insert(a, i);
            }
            vals.push(default_value(d));
        }
        Config {
            vals,
            index,
            renames: Vec::new(),
            file: None,
            users: Vec::new(),
            modules: Vec::new(),
            save_seen: false,
            mode: None,
            mode_lines: Vec::new(),
            no_fs: false,
        }
    }

    /// The definition and index of a directive, by name or alias
    /// (case-insensitive).
    pub fn lookup(&self, name: &str) -> Option<(usize, &'static Def)> {
        let lower = name.to_ascii_lowercase();
        let i = *self.index.get(lower.as_str())?;
        Some((i, &DIRECTIVES[i]))
    }

    /// The value of a directive named at run time (`CONFIG GET`, a
    /// config line); code that knows which directive it reads uses the
    /// typed getters below.
    pub fn get(&self, name: &str) -> Option<&Val> {
        self.lookup(name).map(|(i, _)| &self.vals[i])
    }

    /// The parsed value of directive `d`.
    #[inline]
    pub fn val(&self, d: Directive) -> &Val {
        &self.vals[d as usize]
    }

    /// An integer, memory size or boolean (as 0/1) directive; 0 for other
    /// kinds.
    #[inline]
    pub fn get_int(&self, d: Directive) -> i64 {
        match self.val(d) {
            Val::Int(n) => *n,
            Val::Bool(b) => *b as i64,
            _ => 0,
        }
    }

    #[inline]
    pub fn get_bool(&self, d: Directive) -> bool {
        matches!(self.val(d), Val::Bool(true))
    }

    /// The value as `CONFIG GET` renders it.
    pub fn get_str(&self, d: Directive) -> String {
        render(self.val(d))
    }

    /// A list directive's words (a single non-empty string as one word).
    pub fn get_list(&self, d: Directive) -> Vec<String> {
        match self.val(d) {
            Val::List(l) => l.clone(),
            Val::Str(s) if !s.is_empty() => vec![s.clone()],
            _ => Vec::new(),
        }
    }

    /// Sets a directive from its arguments, validating them.
    pub fn set(&mut self, name: &str, args: &[String]) -> Result<(), ConfigError> {
        let (i, def) = self.lookup(name).ok_or(ConfigError::BadDirective)?;
        let v = parse::parse_value(def, args, &self.vals[i])?;
        self.vals[i] = v;
        Ok(())
    }

    /// The parsed value at table index `i`.
    pub fn value(&self, i: usize) -> &Val {
        &self.vals[i]
    }

    /// Replaces the value at table index `i` (already validated).
    pub fn put(&mut self, i: usize, v: Val) {
        self.vals[i] = v;
    }

    /// Whether directive `i` holds its default value.
    pub fn is_default(&self, i: usize) -> bool {
        self.vals[i] == default_value(&DIRECTIVES[i])
    }

    /// Every directive with its rendered value, in table order (`CONFIG
    /// GET`).
    pub fn iter(&self) -> impl Iterator<Item = (&'static Def, String)> + '_ {
        DIRECTIVES
            .iter()
            .zip(&self.vals)
            .map(|(d, v)| (d, render_for(d, v)))
    }

    /// The rendered value of one directive.
    pub fn render(&self, i: usize) -> String {
        render_for(&DIRECTIVES[i], &self.vals[i])
    }
}

/// The default value of a directive; defaults are part of the table and
/// always valid.
fn default_value(d: &Def) -> Val {
    let args = parse::split_default(d.default);
    let empty = Val::List(Vec::new());
    parse::parse_value(d, &args, &empty).unwrap_or_else(|_| Val::Str(d.default.to_string()))
}

/// Whether a directive takes several arguments (Redis's
/// `MULTI_ARG_CONFIG`): a single argument holding spaces is split into
/// them, in a config line as in `CONFIG SET`.
pub fn is_multi_arg(def: &Def) -> bool {
    matches!(
        def.kind,
        Kind::List
            | Kind::Special(
                Special::Save
                    | Special::Bind
                    | Special::ClientOutputBufferLimit
                    | Special::OomScoreAdjValues
                    | Special::Replicaof
                    | Special::LatencyPercentiles
                    | Special::FlagsEnum(_)
            )
    )
}

/// Splits the single value `CONFIG SET` takes for a directive with several
/// arguments (`save "3600 1 300 100"`) into those arguments, as Redis does.
pub fn set_args(def: &Def, value: &str) -> Vec<String> {
    if is_multi_arg(def) {
        let w: Vec<String> = value
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect();
        if w.is_empty() {
            return vec![String::new()];
        }
        w
    } else {
        vec![value.to_string()]
    }
}

/// The text of an I/O error as C's `strerror` gives it (without Rust's
/// "(os error N)" suffix), for messages that must read as Redis's.
pub fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Renders a value as `CONFIG GET` shows it.
pub fn render(v: &Val) -> String {
    match v {
        Val::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
        Val::Int(n) => n.to_string(),
        Val::Str(s) => s.clone(),
        Val::List(l) => l.join(" "),
    }
}

pub fn render_for(d: &Def, v: &Val) -> String {
    match (&d.kind, v) {
        // Octal modes render in octal, as Redis does for unixsocketperm.
        (Kind::Octal, Val::Int(n)) => format!("{n:o}"),
        (Kind::Special(Special::NotifyKeyspaceEvents), Val::Int(n)) => {
            crate::notify::flags_to_string(*n as u32)
        }
        _ => render(v),
    }
}
