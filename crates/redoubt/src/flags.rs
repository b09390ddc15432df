//! The options a tool was given (parsed by clap from the declarations in
//! `cli.rs`) and the value syntaxes the tools share: sizes (`64mb`) and
//! durations (`5m`).

use std::str::FromStr;

#[derive(Debug, Default)]
pub struct Flags {
    values: Vec<(String, String)>,
    switches: Vec<String>,
    pub positional: Vec<String>,
}

impl Flags {
    pub fn set_value(&mut self, name: &str, value: String) {
        self.values.push((name.to_string(), value));
    }

    pub fn set_switch(&mut self, name: &str) {
        self.switches.push(name.to_string());
    }

    /// The last value given for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value given for a repeatable option.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.switches.iter().any(|s| s == name)
    }

    /// A numeric option, `default` when absent.
    pub fn num<T: FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name}: `{v}` is not a valid number")),
        }
    }
}

/// Parses a size with an optional unit: `64mb`, `1gb`, `512kb`, `100`.
pub fn parse_size(v: &str) -> Option<u64> {
    let l = v.trim().to_ascii_lowercase();
    let units: [(&str, u64); 6] = [
        ("gb", 1 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1000),
    ];
    for (u, m) in units {
        if let Some(n) = l.strip_suffix(u) {
            return n.trim().parse::<u64>().ok().map(|n| n.saturating_mul(m));
        }
    }
    l.strip_suffix('b').unwrap_or(&l).parse().ok()
}

/// Parses a duration in seconds with an optional unit: `60`, `90s`, `5m`, `1h`.
pub fn parse_secs(v: &str) -> Option<u64> {
    let l = v.trim().to_ascii_lowercase();
    for (u, m) in [("h", 3600), ("m", 60), ("s", 1)] {
        if let Some(n) = l.strip_suffix(u) {
            return n.parse::<u64>().ok().map(|n| n * m);
        }
    }
    l.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("64mb"), Some(64 << 20));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_secs("5m"), Some(300));
    }
}
