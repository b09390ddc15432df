//! redis.conf syntax: lines split with Redis's quoting rules, `include`,
//! command-line `--directive value` overrides, and the fatal error block
//! Redis prints for a bad line.

use super::table::{Def, Kind};
use super::{Config, ConfigError, Val};
use std::path::Path;

/// A config error tied to a line, printed as Redis's FATAL block.
#[derive(Debug, Clone, PartialEq)]
pub struct FileError {
    pub line_no: usize,
    pub line: String,
    pub reason: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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

/// Parses a memory size as Redis's `memtoull`: a number with an optional
/// unit `k kb m mb g gb` (case-insensitive; `k` is 1000, `kb` 1024).
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
    let v: i64 = num.parse().ok()?;
    v.checked_mul(mul)
}

/// Parses the arguments of one directive according to its definition.
pub fn parse_value(def: &Def, args: &[String]) -> Result<Val, ConfigError> {
    let one = || -> Result<&String, ConfigError> {
        if args.len() == 1 {
            Ok(&args[0])
        } else {
            Err(ConfigError::BadDirective)
        }
    };
    Ok(match def.kind {
        Kind::Bool => match one()?.to_ascii_lowercase().as_str() {
            "yes" => Val::Bool(true),
            "no" => Val::Bool(false),
            _ => {
                return Err(ConfigError::Invalid(
                    "argument must be 'yes' or 'no'".into(),
                ))
            }
        },
        Kind::Int { min, max } | Kind::Memory { min, max } => {
            let a = one()?;
            let v = if matches!(def.kind, Kind::Memory { .. }) {
                parse_memory(a)
                    .ok_or_else(|| ConfigError::Invalid("argument must be a memory value".into()))?
            } else {
                a.parse::<i64>().map_err(|_| {
                    ConfigError::Invalid("argument couldn't be parsed into an integer".into())
                })?
            };
            if v < min || v > max {
                return Err(ConfigError::Invalid(format!(
                    "argument must be between {min} and {max} inclusive"
                )));
            }
            Val::Int(v)
        }
        Kind::Octal => {
            let a = one()?;
            Val::Int(i64::from_str_radix(a, 8).map_err(|_| {
                ConfigError::Invalid("argument couldn't be parsed into an integer".into())
            })?)
        }
        Kind::Enum(words) => {
            let a = one()?.to_ascii_lowercase();
            if !words.contains(&a.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "argument(s) must be one of the following: {}",
                    words.join(", ")
                )));
            }
            Val::Str(a)
        }
        Kind::Str => Val::Str(one()?.clone()),
        Kind::List => Val::List(args.iter().filter(|a| !a.is_empty()).cloned().collect()),
    })
}

impl Config {
    /// Loads a config file (following `include`s) and then the
    /// command-line overrides, in that order, as redis-server does.
    pub fn load(
        file: Option<&Path>,
        overrides: &[(String, Vec<String>)],
    ) -> Result<Config, FileError> {
        let mut cfg = Config::new();
        let mut text = String::new();
        if let Some(f) = file {
            text = std::fs::read_to_string(f).map_err(|e| FileError {
                line_no: 0,
                line: f.display().to_string(),
                reason: format!("Fatal error, can't open config file '{}': {e}", f.display()),
            })?;
            cfg.file = Some(f.to_path_buf());
        }
        // Overrides are appended as lines, so a bad one is reported the way
        // Redis reports it: as a line after the file's.
        for (name, args) in overrides {
            text.push('\n');
            text.push_str(name);
            for a in args {
                text.push_str(" \"");
                text.push_str(&a.replace('\\', "\\\\").replace('"', "\\\""));
                text.push('"');
            }
        }
        cfg.load_text(&text, 0)?;
        Ok(cfg)
    }

    fn load_text(&mut self, text: &str, depth: usize) -> Result<(), FileError> {
        for (i, raw) in text.split('\n').enumerate() {
            let line = raw.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\r');
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
            match lname.as_str() {
                "include" if rest.len() == 1 => {
                    if depth > 16 {
                        return Err(err("Too many nested includes".into()));
                    }
                    let inc = std::fs::read_to_string(&rest[0]).map_err(|e| {
                        err(format!(
                            "Fatal error, can't open config file '{}': {e}",
                            rest[0]
                        ))
                    })?;
                    self.load_text(&inc, depth + 1)?;
                }
                "rename-command" if rest.len() == 2 => {
                    self.renames.push((rest[0].clone(), rest[1].clone()));
                }
                _ => self.set(&lname, rest).map_err(|e| err(e.to_string()))?,
            }
        }
        Ok(())
    }
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
