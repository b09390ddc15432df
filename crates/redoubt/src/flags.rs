//! A tiny `--name value` / `--name=value` / `--switch` parser shared by
//! the tool subcommands (`up`, `doctor`, `config`, `top`). The server's own
//! arguments follow redis-server's irregular form and are parsed in
//! main.rs; these tools have regular flags, and a hand-written parser of
//! forty lines keeps the binary free of a derive-macro dependency.

use std::str::FromStr;

#[derive(Debug, Default)]
pub struct Flags {
    values: Vec<(String, String)>,
    switches: Vec<String>,
    pub positional: Vec<String>,
}

impl Flags {
    /// Parses `args`: names in `valued` take a value, names in `switches`
    /// do not; anything else starting with `--` is an error.
    pub fn parse(args: &[String], valued: &[&str], switches: &[&str]) -> Result<Flags, String> {
        let mut f = Flags::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let Some(name) = a.strip_prefix("--") else {
                f.positional.push(a.clone());
                continue;
            };
            let (name, inline) = match name.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (name, None),
            };
            if valued.contains(&name) {
                let v = match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .cloned()
                        .ok_or(format!("--{name} needs a value"))?,
                };
                f.values.push((name.to_string(), v));
            } else if switches.contains(&name) && inline.is_none() {
                f.switches.push(name.to_string());
            } else {
                return Err(format!("unknown option --{name}"));
            }
        }
        Ok(f)
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
    fn values_switches_and_positionals() {
        let a: Vec<String> = [
            "--port",
            "7000",
            "--json",
            "h:1",
            "--sentinel=s:2",
            "--sentinel",
            "s:3",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let f = Flags::parse(&a, &["port", "sentinel"], &["json"]).unwrap_or_default();
        assert_eq!(f.num("port", 0u16), Ok(7000));
        assert!(f.has("json"));
        assert_eq!(f.all("sentinel"), vec!["s:2", "s:3"]);
        assert_eq!(f.positional, vec!["h:1"]);
        assert!(Flags::parse(&["--nope".to_string()], &[], &[]).is_err());
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("64mb"), Some(64 << 20));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_secs("5m"), Some(300));
    }
}
