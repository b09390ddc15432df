//! Network partitions for the tests, made with network namespaces the test
//! creates and removes: two sides, `a` and `b`, each a namespace with one
//! address, joined by a bridge in the root namespace. Cutting a side takes
//! its end of the veth pair down: the side then reaches only itself, while
//! the test (in the root namespace) still reaches the other side. `tc
//! netem` is not available here; taking a link down is.
//!
//! Needs root and iproute2 (CI runs as root and installs iproute2). A
//! machine that cannot make namespaces fails the test that asked: a
//! partition test never passes without having partitioned anything.

use crate::harness::{temp_dir, try_query, Flavor};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use topology::{Kind, Launch, Node};

pub const NAME: &str = "mymaster";

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Two namespaces joined by a bridge in the root namespace; removed on
/// drop with every process started in them.
pub struct Net {
    tag: String,
    subnet: String,
    nodes: Vec<Node>,
    dir: std::path::PathBuf,
}

impl Net {
    /// Creates the namespaces, the bridge and the veth pairs. The tag
    /// (names of namespaces and links, and the subnet) is one no other
    /// test on this machine uses now: several suites share the machine's
    /// root namespace.
    pub fn new() -> Result<Net, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let start = std::process::id() % 200;
        let mut chosen = None;
        for k in 0..200 {
            let n = (start + NEXT.fetch_add(1, Ordering::SeqCst) + k) % 200 + 20;
            let tag = format!("rdt{n}");
            let taken = std::path::Path::new(&format!("/var/run/netns/{tag}a")).exists()
                || std::path::Path::new(&format!("/sys/class/net/{tag}br")).exists();
            if !taken {
                chosen = Some(n);
                break;
            }
        }
        let n = chosen.ok_or("no free namespace tag")?;
        let tag = format!("rdt{n}");
        let subnet = format!("10.213.{n}");
        let net = Net {
            tag: tag.clone(),
            subnet: subnet.clone(),
            nodes: Vec::new(),
            dir: temp_dir("partition"),
        };
        let br = format!("{tag}br");
        let ok = ip(&["link", "add", &br, "type", "bridge"])
            && ip(&["addr", "add", &format!("{subnet}.1/24"), "dev", &br])
            && ip(&["link", "set", &br, "up"]);
        if !ok {
            return Err(format!("cannot create bridge {br}"));
        }
        for (side, host) in [("a", 10), ("b", 20)] {
            let ns = format!("{tag}{side}");
            let (v, peer) = (format!("{tag}v{side}"), format!("{tag}p{side}"));
            let ok = ip(&["netns", "add", &ns])
                && ip(&["link", "add", &v, "type", "veth", "peer", "name", &peer])
                && ip(&["link", "set", &peer, "netns", &ns])
                && ip(&[
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{subnet}.{host}/24"),
                    "dev",
                    &peer,
                ])
                && ip(&["-n", &ns, "link", "set", &peer, "up"])
                && ip(&["-n", &ns, "link", "set", "lo", "up"])
                && ip(&["link", "set", &v, "master", &br])
                && ip(&["link", "set", &v, "up"]);
            if !ok {
                return Err(format!("cannot create namespace {ns}"));
            }
        }
        Ok(net)
    }

    fn teardown(&self) {
        for side in ["a", "b"] {
            ip(&["netns", "del", &format!("{}{side}", self.tag)]);
            ip(&["link", "del", &format!("{}v{side}", self.tag)]);
        }
        ip(&["link", "del", &format!("{}br", self.tag)]);
    }

    /// The address of a side (`a` or `b`).
    pub fn host(&self, side: &str) -> String {
        format!("{}.{}", self.subnet, if side == "a" { 10 } else { 20 })
    }

    /// Starts what `launch` describes inside a side's namespace, through
    /// the launcher, listening on that side's address; returns its port.
    fn start(&mut self, side: &str, role: &str, launch: Launch) -> u16 {
        let node = launch
            .host(&self.host(side))
            .start()
            .unwrap_or_else(|e| panic!("{role} on side {side}: {e}"));
        let port = node.port;
        self.nodes.push(node);
        port
    }

    /// `flavor`'s server or sentinel inside a side's namespace, in a
    /// folder of its own.
    fn program(&self, side: &str, flavor: Flavor, kind: Kind) -> (Vec<String>, std::path::PathBuf) {
        let ns = format!("{}{side}", self.tag);
        let mut program: Vec<String> = ["ip", "netns", "exec", &ns].map(String::from).to_vec();
        program.extend(flavor.program(kind));
        let role = if kind == Kind::Server {
            "server"
        } else {
            "sentinel"
        };
        (
            program,
            self.dir.join(format!("{role}-{}", self.nodes.len())),
        )
    }

    /// A Redoubt server on a side.
    pub fn server(&mut self, side: &str, extra: &[(&str, &str)]) -> u16 {
        self.server_of(Flavor::Redoubt, side, extra)
    }

    /// A server of `flavor` (Redoubt, or Debian's redis-server) on a side.
    pub fn server_of(&mut self, flavor: Flavor, side: &str, extra: &[(&str, &str)]) -> u16 {
        let (program, dir) = self.program(side, flavor, Kind::Server);
        let launch = Launch::server(program, dir)
            .directives(&[
                ("save", ""),
                ("appendonly", "no"),
                ("repl-diskless-sync-delay", "0"),
                // Reached over the bridge, not loopback, and without a password.
                ("protected-mode", "no"),
            ])
            .directives(extra);
        self.start(side, "server", launch)
    }

    /// A Redoubt sentinel on a side watching `master:mport` with quorum 2,
    /// `down-after-milliseconds` 1000.
    pub fn sentinel(&mut self, side: &str, master: &str, mport: u16) -> u16 {
        let conf = format!(
            "sentinel monitor {NAME} {master} {mport} 2\n\
             sentinel down-after-milliseconds {NAME} 1000\nsentinel failover-timeout {NAME} 4000\n"
        );
        self.sentinel_of(Flavor::Redoubt, side, &conf)
    }

    /// A sentinel of `flavor` on a side, from config lines `conf`.
    pub fn sentinel_of(&mut self, flavor: Flavor, side: &str, conf: &str) -> u16 {
        let (program, dir) = self.program(side, flavor, Kind::Sentinel);
        self.start(side, "sentinel", Launch::sentinel(program, dir, conf))
    }

    /// Cuts a side off (`up` false) or reconnects it.
    pub fn cut(&self, side: &str, up: bool) {
        let v = format!("{}v{side}", self.tag);
        assert!(ip(&["link", "set", &v, if up { "up" } else { "down" }]));
    }

    /// The namespace file of a side, for [`enter_path`].
    pub fn ns_path(&self, side: &str) -> String {
        format!("/var/run/netns/{}{side}", self.tag)
    }

    /// Runs redis-cli inside a side's namespace (to reach the cut-off side).
    pub fn cli(&self, side: &str, host: &str, port: u16, args: &[&str]) -> String {
        let ns = format!("{}{side}", self.tag);
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns,
                "redis-cli",
                "-h",
                host,
                "-p",
                &port.to_string(),
            ])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // The processes go first (each prints its log tail in a failing
        // test), then the namespaces they ran in.
        self.nodes.clear();
        self.teardown();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Moves the calling thread into the namespace at `path` ([`Net::ns_path`]):
/// its new sockets are that side's (a client on the cut-off side).
pub fn enter_path(path: &str) {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    use std::os::fd::AsRawFd;
    // SAFETY: a valid namespace file descriptor; setns changes only the
    // calling thread's network namespace.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
}

/// One command to `host:port` on a fresh short-lived connection.
pub fn query(host: &str, port: u16, args: &[&str]) -> Option<redis::Value> {
    try_query(&format!("redis://{host}:{port}/"), args)
}

/// `host:port` of the master a sentinel names.
pub fn master_of(host: &str, sentinel: u16) -> Option<String> {
    match query(
        host,
        sentinel,
        &["SENTINEL", "get-master-addr-by-name", NAME],
    )? {
        redis::Value::Array(v) if v.len() == 2 => {
            let h: String = redis::from_redis_value(&v[0]).ok()?;
            let p: String = redis::from_redis_value(&v[1]).ok()?;
            Some(format!("{h}:{p}"))
        }
        _ => None,
    }
}
