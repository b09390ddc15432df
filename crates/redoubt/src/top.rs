//! `redoubt top HOST:PORT`: one line per second of what a server is doing
//! — role, commands per second (and the busiest commands), clients,
//! memory, keys, hit ratio, replication offset and worst replica lag —
//! computed from `INFO` deltas, so it works against Redoubt and Redis.

use client::{Client, Info};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::{Duration, Instant};

pub fn main(args: &[String]) -> i32 {
    let f = match crate::cli::parse(crate::cli::top(), args) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let Some(addr) = f.positional.first() else {
        eprintln!("redoubt top: which server? (see redoubt top --help)");
        return 2;
    };
    let interval = Duration::from_millis(f.num("interval-ms", 1000u64).unwrap_or(1000).max(100));
    let count: u64 = f.num("count", 0).unwrap_or(0);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("redoubt top: {e}");
            return 1;
        }
    };
    rt.block_on(run(addr, f.get("password"), interval, count))
}

fn human_bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut v = n;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1}{}", UNITS[u])
}

fn calls(info: &Info) -> BTreeMap<String, i64> {
    info.fields
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("cmdstat_")?;
            let c = client::parse_sub_fields(v).get("calls")?.parse().ok()?;
            Some((name.to_string(), c))
        })
        .collect()
}

fn keys(info: &Info) -> i64 {
    info.fields
        .iter()
        .filter(|(k, _)| {
            k.starts_with("db") && k.len() > 2 && k[2..].bytes().all(|b| b.is_ascii_digit())
        })
        .filter_map(|(_, v)| client::parse_sub_fields(v).get("keys")?.parse::<i64>().ok())
        .sum()
}

/// The line for one interval, from the INFO before and after it.
pub fn line(prev: &Info, cur: &Info, secs: f64) -> String {
    let d = |k: &str| (cur.int(k).unwrap_or(0) - prev.int(k).unwrap_or(0)).max(0) as f64;
    let ops = d("total_commands_processed") / secs;
    let (pc, cc) = (calls(prev), calls(cur));
    let mut busiest: Vec<(String, i64)> = cc
        .iter()
        .map(|(k, v)| (k.clone(), v - pc.get(k).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    busiest.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let top: Vec<String> = busiest
        .iter()
        .take(3)
        .map(|(k, n)| format!("{k}:{:.0}", *n as f64 / secs))
        .collect();
    let hits = d("keyspace_hits");
    let misses = d("keyspace_misses");
    let ratio = if hits + misses > 0.0 {
        format!("{:.0}%", 100.0 * hits / (hits + misses))
    } else {
        "-".into()
    };
    let offset = cur.int("master_repl_offset").unwrap_or(0);
    let lag = if cur.get("role") == Some("master") {
        cur.replicas()
            .iter()
            .filter_map(|r| r.get("offset")?.parse::<i64>().ok())
            .map(|o| offset - o)
            .max()
            .map(|l| format!("{l}B"))
            .unwrap_or_else(|| "-".into())
    } else {
        format!("link {}", cur.get("master_link_status").unwrap_or("?"))
    };
    format!(
        "{:<7} {:>9.0} {:>6} {:>9} {:>10} {:>5} {:>12} {:>10}  {}",
        cur.get("role").unwrap_or("?"),
        ops,
        cur.int("connected_clients").unwrap_or(0),
        human_bytes(cur.int("used_memory").unwrap_or(0) as f64),
        keys(cur),
        ratio,
        offset,
        lag,
        top.join(" ")
    )
}

const HEADER: &str = "ROLE        OPS/S CLIENTS    MEMORY       KEYS   HIT       OFFSET        LAG  BUSIEST (calls/s)";

async fn run(addr: &str, password: Option<&str>, interval: Duration, count: u64) -> i32 {
    let mut c = match Client::connect_auth(addr, password, Duration::from_secs(3)).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("redoubt top: {addr}: {e}");
            return 1;
        }
    };
    let mut prev = match c.info("everything").await {
        Ok(i) => i,
        Err(e) => {
            eprintln!("redoubt top: {addr}: {e}");
            return 1;
        }
    };
    let mut t = Instant::now();
    let mut n = 0u64;
    loop {
        tokio::time::sleep(interval).await;
        let cur = match c.info("everything").await {
            Ok(i) => i,
            Err(e) => {
                eprintln!("redoubt top: {addr}: {e}");
                return 1;
            }
        };
        let secs = t.elapsed().as_secs_f64().max(0.001);
        t = Instant::now();
        if n.is_multiple_of(20) {
            println!("{HEADER}");
        }
        println!("{}", line(&prev, &cur, secs));
        let _ = std::io::stdout().flush();
        prev = cur;
        n += 1;
        if count > 0 && n >= count {
            return 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_deltas() {
        let a = Info::parse("role:master\r\ntotal_commands_processed:100\r\ncmdstat_get:calls=10,usec=1\r\nmaster_repl_offset:50\r\nslave0:ip=1,port=2,state=online,offset=40,lag=0\r\n");
        let b = Info::parse("role:master\r\ntotal_commands_processed:300\r\ncmdstat_get:calls=210,usec=1\r\ndb0:keys=5,expires=0,avg_ttl=0\r\nmaster_repl_offset:90\r\nslave0:ip=1,port=2,state=online,offset=80,lag=0\r\n");
        let l = line(&a, &b, 2.0);
        assert!(l.contains(" 100 "), "{l}");
        assert!(l.contains("get:100"), "{l}");
        assert!(l.contains("10B"), "{l}");
    }
}
