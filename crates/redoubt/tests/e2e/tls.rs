//! TLS with real peers: Debian's `redis-cli --tls` against Redoubt, client
//! certificates required / optional / refused, certificate reload through
//! `CONFIG SET`, and replication over TLS between Redoubt and real Redis
//! 7.0.15 in both directions. Certificates are made at run time with the
//! `openssl` command in the test's own folder.

use crate::harness::{free_port, redoubt_bin, temp_dir, wait_for, Flavor, Raw, ServerHandle};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A CA and a server and a client certificate it signed (P-256 keys:
/// quick to make, and supported by OpenSSL and rustls alike).
pub(crate) struct Pki {
    dir: PathBuf,
    pub(crate) ca: String,
    pub(crate) cert: String,
    pub(crate) key: String,
    pub(crate) client_cert: String,
    pub(crate) client_key: String,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command is needed for the TLS tests");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pki {
    /// A fresh CA (named `tag`) with a server and a client certificate.
    pub(crate) fn new(tag: &str) -> Pki {
        let dir = temp_dir(&format!("pki-{tag}"));
        let p = |f: &str| dir.join(f).display().to_string();
        // webpki wants X.509 v3 leaf certificates with key usages.
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n\
             keyUsage=digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth,clientAuth\n",
        )
        .unwrap();
        let ec = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
        let genkey = |out: &str| {
            let mut a = vec!["genpkey"];
            a.extend_from_slice(&ec);
            a.extend_from_slice(&["-out", out]);
            openssl(&dir, &a);
        };
        genkey("ca.key");
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                "ca.key",
                "-sha256",
                "-days",
                "3650",
                "-subj",
                &format!("/O=Redoubt Test/CN={tag} CA"),
                "-out",
                "ca.crt",
            ],
        );
        for name in ["server", "client"] {
            genkey(&format!("{name}.key"));
            openssl(
                &dir,
                &[
                    "req",
                    "-new",
                    "-key",
                    &format!("{name}.key"),
                    "-sha256",
                    "-subj",
                    &format!("/O=Redoubt Test/CN={tag} {name}"),
                    "-out",
                    &format!("{name}.csr"),
                ],
            );
            openssl(
                &dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("{name}.csr"),
                    "-CA",
                    "ca.crt",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-days",
                    "365",
                    "-sha256",
                    "-extfile",
                    "ext.cnf",
                    "-out",
                    &format!("{name}.crt"),
                ],
            );
        }
        Pki {
            ca: p("ca.crt"),
            cert: p("server.crt"),
            key: p("server.key"),
            client_cert: p("client.crt"),
            client_key: p("client.key"),
            dir,
        }
    }

    /// The server key encrypted (PKCS#8, PBES2/AES-256) with `pass`.
    fn encrypted_key(&self, pass: &str) -> String {
        let out = self.dir.join("server.enc.key");
        openssl(
            &self.dir,
            &[
                "pkcs8",
                "-topk8",
                "-v2",
                "aes-256-cbc",
                "-in",
                "server.key",
                "-passout",
                &format!("pass:{pass}"),
                "-out",
                &out.display().to_string(),
            ],
        );
        out.display().to_string()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A server with a `tls-port` beside its plain port.
struct TlsServer {
    h: ServerHandle,
    tls_port: u16,
}

fn start_tls(flavor: Flavor, pki: &Pki, extra: &[(&str, &str)]) -> TlsServer {
    let tls_port = free_port().to_string();
    let mut d: Vec<(&str, &str)> = vec![
        ("tls-port", &tls_port),
        ("tls-cert-file", &pki.cert),
        ("tls-key-file", &pki.key),
        ("tls-ca-cert-file", &pki.ca),
    ];
    d.extend_from_slice(extra);
    let h = ServerHandle::start(flavor, &d);
    TlsServer {
        h,
        tls_port: tls_port.parse().unwrap(),
    }
}

/// Runs Debian's `redis-cli --tls` against `port`; Ok(stdout) or
/// Err(stderr + stdout) when it failed.
pub(crate) fn cli_tls(
    port: u16,
    ca: &str,
    cert: Option<(&str, &str)>,
    args: &[&str],
) -> Result<String, String> {
    let mut c = Command::new("redis-cli");
    c.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "--tls",
        "--cacert",
        ca,
    ]);
    if let Some((crt, key)) = cert {
        c.args(["--cert", crt, "--key", key]);
    }
    let out = c.args(args).output().expect("redis-cli");
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    // redis-cli prints connection errors and still exits 0 in some modes.
    if out.status.success() && !stdout.starts_with("Could not connect") && !stderr.contains("Error")
    {
        Ok(stdout)
    } else {
        Err(format!("{stderr}{stdout}"))
    }
}

pub(crate) fn client_cert(pki: &Pki) -> Option<(&str, &str)> {
    Some((pki.client_cert.as_str(), pki.client_key.as_str()))
}

#[test]
fn redis_cli_over_tls_and_plain_tcp_at_once() {
    let pki = Pki::new("cli");
    let s = start_tls(Flavor::Redoubt, &pki, &[]);
    let cert = client_cert(&pki);
    assert_eq!(
        cli_tls(s.tls_port, &pki.ca, cert, &["PING"]).unwrap(),
        "PONG"
    );
    assert_eq!(
        cli_tls(s.tls_port, &pki.ca, cert, &["SET", "k", "over tls"]).unwrap(),
        "OK"
    );
    // The same dataset on the plain port, at the same time.
    assert_eq!(s.h.raw().cmd_str(&["GET", "k"]), "$8\r\nover tls\r\n");
    // CLIENT LIST shows the TLS listener as the local address, as Redis.
    let list = cli_tls(s.tls_port, &pki.ca, cert, &["CLIENT", "LIST"]).unwrap();
    assert!(
        list.contains(&format!("laddr=127.0.0.1:{} ", s.tls_port)),
        "{list}"
    );
    // Larger replies cross several TLS records intact.
    s.h.raw().cmd_str(&["SET", "big", &"x".repeat(300_000)]);
    let got = cli_tls(s.tls_port, &pki.ca, cert, &["GET", "big"]).unwrap();
    assert_eq!(got.len(), 300_000);
}

#[test]
fn client_certificate_required_optional_and_refused_as_in_redis() {
    let pki = Pki::new("auth");
    let other = Pki::new("other");
    for flavor in [Flavor::Redoubt, Flavor::Redis] {
        let s = start_tls(flavor, &pki, &[]);
        let port = s.tls_port;
        // Default `tls-auth-clients yes`: a certificate from our CA is needed.
        assert_eq!(
            cli_tls(port, &pki.ca, client_cert(&pki), &["PING"]).unwrap(),
            "PONG"
        );
        assert!(
            cli_tls(port, &pki.ca, None, &["PING"]).is_err(),
            "{flavor:?}"
        );
        let foreign = Some((other.client_cert.as_str(), other.client_key.as_str()));
        assert!(
            cli_tls(port, &pki.ca, foreign, &["PING"]).is_err(),
            "{flavor:?}"
        );
        // `optional`: no certificate is fine, a bad one still is not.
        assert_eq!(
            s.h.raw()
                .cmd_str(&["CONFIG", "SET", "tls-auth-clients", "optional"]),
            "+OK\r\n"
        );
        assert_eq!(cli_tls(port, &pki.ca, None, &["PING"]).unwrap(), "PONG");
        assert!(
            cli_tls(port, &pki.ca, foreign, &["PING"]).is_err(),
            "{flavor:?}"
        );
        // `no`: certificates are not asked for.
        assert_eq!(
            s.h.raw()
                .cmd_str(&["CONFIG", "SET", "tls-auth-clients", "no"]),
            "+OK\r\n"
        );
        assert_eq!(cli_tls(port, &pki.ca, None, &["PING"]).unwrap(), "PONG");
        // The client must trust the server too.
        assert!(
            cli_tls(port, &other.ca, None, &["PING"]).is_err(),
            "{flavor:?}"
        );
    }
}

#[test]
fn certificate_reload_on_config_set_and_bad_files_keep_the_old_material() {
    let first = Pki::new("first");
    let second = Pki::new("second");
    let mut replies = Vec::new();
    for flavor in [Flavor::Redoubt, Flavor::Redis] {
        let s = start_tls(flavor, &first, &[("tls-auth-clients", "no")]);
        let port = s.tls_port;
        assert_eq!(cli_tls(port, &first.ca, None, &["PING"]).unwrap(), "PONG");
        // A missing file: an error reply, and the old material stays.
        let bad =
            s.h.raw()
                .cmd_str(&["CONFIG", "SET", "tls-cert-file", "/nonexistent/server.crt"]);
        let bad_proto =
            s.h.raw()
                .cmd_str(&["CONFIG", "SET", "tls-protocols", "TLSv9"]);
        let bad_key =
            s.h.raw()
                .cmd_str(&["CONFIG", "SET", "tls-key-file", &second.key]);
        replies.push((bad.clone(), bad_proto.clone(), bad_key.clone()));
        assert_eq!(cli_tls(port, &first.ca, None, &["PING"]).unwrap(), "PONG");
        assert_eq!(
            s.h.raw().cmd_str(&["CONFIG", "GET", "tls-cert-file"]),
            format!(
                "*2\r\n$13\r\ntls-cert-file\r\n${}\r\n{}\r\n",
                first.cert.len(),
                first.cert
            )
        );
        // New certificate and key together: new connections get them.
        assert_eq!(
            s.h.raw().cmd_str(&[
                "CONFIG",
                "SET",
                "tls-cert-file",
                &second.cert,
                "tls-key-file",
                &second.key
            ]),
            "+OK\r\n"
        );
        assert_eq!(cli_tls(port, &second.ca, None, &["PING"]).unwrap(), "PONG");
        assert!(
            cli_tls(port, &first.ca, None, &["PING"]).is_err(),
            "{flavor:?}"
        );
    }
    assert_eq!(replies[0], replies[1], "Redoubt's replies, then Redis's");
    assert_eq!(
        replies[0].0,
        "-ERR CONFIG SET failed (possibly related to argument 'tls-cert-file') - Unable to update TLS configuration. Check server logs.\r\n"
    );
}

#[test]
fn encrypted_private_key_with_tls_key_file_pass() {
    let pki = Pki::new("enc");
    let key = pki.encrypted_key("s3cret");
    for flavor in [Flavor::Redoubt, Flavor::Redis] {
        let s = start_tls(
            flavor,
            &pki,
            &[
                ("tls-key-file", &key),
                ("tls-key-file-pass", "s3cret"),
                ("tls-auth-clients", "no"),
            ],
        );
        assert_eq!(
            cli_tls(s.tls_port, &pki.ca, None, &["PING"]).unwrap(),
            "PONG"
        );
        // A wrong password is refused and the old key kept.
        let r =
            s.h.raw()
                .cmd_str(&["CONFIG", "SET", "tls-key-file-pass", "wrong"]);
        assert!(
            r.contains("Unable to update TLS configuration"),
            "{flavor:?}: {r}"
        );
        assert_eq!(
            cli_tls(s.tls_port, &pki.ca, None, &["PING"]).unwrap(),
            "PONG"
        );
    }
}

#[test]
fn tls_port_without_certificate_stops_start_up_as_redis_does() {
    let dir = temp_dir("tls-nocert");
    let out = Command::new(redoubt_bin())
        .args([
            "server",
            "--port",
            &free_port().to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .args([
            "--tls-port",
            &free_port().to_string(),
            "--dir",
            &dir.display().to_string(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("No tls-cert-file configured!"), "{log}");
    assert!(
        log.contains("Failed to configure TLS. Check logs for more info."),
        "{log}"
    );
    // A cipher rustls does not implement is named, with what is offered.
    let pki = Pki::new("badcipher");
    let out = Command::new(redoubt_bin())
        .args([
            "server",
            "--port",
            &free_port().to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .args([
            "--tls-port",
            &free_port().to_string(),
            "--dir",
            &dir.display().to_string(),
        ])
        .args(["--tls-cert-file", &pki.cert, "--tls-key-file", &pki.key])
        .args([
            "--tls-ca-cert-file",
            &pki.ca,
            "--tls-ciphers",
            "DES-CBC3-SHA",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains("Failed to configure ciphers: DES-CBC3-SHA ('DES-CBC3-SHA' is not available; supported: ECDHE-ECDSA-AES256-GCM-SHA384:"),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Key count of db 0 on the plain port.
fn dbsize(h: &ServerHandle) -> String {
    h.raw().cmd_str(&["DBSIZE"])
}

fn replicate_over_tls(master_flavor: Flavor, replica_flavor: Flavor) {
    let pki = Pki::new("repl");
    let master = start_tls(master_flavor, &pki, &[]);
    for i in 0..100 {
        master
            .h
            .raw()
            .cmd_str(&["SET", &format!("k{i}"), &format!("v{i}")]);
    }
    let target = format!("127.0.0.1 {}", master.tls_port);
    let replica = start_tls(
        replica_flavor,
        &pki,
        &[("tls-replication", "yes"), ("replicaof", &target)],
    );
    wait_for("the full sync over TLS", Duration::from_secs(20), || {
        dbsize(&replica.h) == ":100\r\n"
    });
    // The command stream follows over the same TLS link.
    master.h.raw().cmd_str(&["SET", "after", "sync"]);
    master.h.raw().cmd_str(&["INCRBY", "k-counter", "7"]);
    wait_for("streamed writes over TLS", Duration::from_secs(10), || {
        replica.h.raw().cmd_str(&["GET", "k-counter"]) == "$1\r\n7\r\n"
    });
    assert_eq!(replica.h.raw().cmd_str(&["GET", "after"]), "$4\r\nsync\r\n");
    // The master sees a replica that announced its TLS port, as Redis's do.
    let info = master.h.raw().cmd_str(&["INFO", "replication"]);
    assert!(
        info.contains(&format!("port={},state=online", replica.tls_port)),
        "{info}"
    );
    assert!(replica
        .h
        .raw()
        .cmd_str(&["INFO", "replication"])
        .contains("master_link_status:up"));
}

#[test]
fn redoubt_replica_follows_redoubt_master_over_tls() {
    replicate_over_tls(Flavor::Redoubt, Flavor::Redoubt);
}

#[test]
fn real_redis_replica_follows_redoubt_master_over_tls() {
    replicate_over_tls(Flavor::Redoubt, Flavor::Redis);
}

#[test]
fn redoubt_replica_follows_real_redis_master_over_tls() {
    replicate_over_tls(Flavor::Redis, Flavor::Redoubt);
}

#[test]
fn replica_with_a_certificate_from_another_ca_is_refused_by_the_master() {
    let pki = Pki::new("mtls");
    let other = Pki::new("mtls-other");
    let master = start_tls(Flavor::Redoubt, &pki, &[]);
    master.h.raw().cmd_str(&["SET", "k", "v"]);
    let target = format!("127.0.0.1 {}", master.tls_port);
    // Trusts the master's CA, but presents a certificate it does not know.
    let replica = start_tls(
        Flavor::Redoubt,
        &other,
        &[
            ("tls-ca-cert-file", &pki.ca),
            ("tls-replication", "yes"),
            ("replicaof", &target),
        ],
    );
    wait_for("a refused link attempt", Duration::from_secs(10), || {
        master
            .h
            .log()
            .contains("Error accepting a client connection")
    });
    assert_eq!(dbsize(&replica.h), ":0\r\n");
    assert!(replica
        .h
        .raw()
        .cmd_str(&["INFO", "replication"])
        .contains("master_link_status:down"));
    // `tls-client-cert-file` / `-key-file`: the outgoing link presents a
    // certificate the master knows, while the replica serves its own.
    let replica = start_tls(
        Flavor::Redoubt,
        &other,
        &[
            ("tls-ca-cert-file", &pki.ca),
            ("tls-client-cert-file", &pki.client_cert),
            ("tls-client-key-file", &pki.client_key),
            ("tls-replication", "yes"),
            ("replicaof", &target),
        ],
    );
    wait_for(
        "the link with the client certificate",
        Duration::from_secs(10),
        || dbsize(&replica.h) == ":1\r\n",
    );
}

#[test]
fn config_set_moves_the_tls_listener_and_both_ports_at_once() {
    let pki = Pki::new("move");
    let s = start_tls(Flavor::Redoubt, &pki, &[("tls-auth-clients", "no")]);
    let new_tls = free_port();
    let r =
        s.h.raw()
            .cmd_str(&["CONFIG", "SET", "tls-port", &new_tls.to_string()]);
    assert_eq!(r, "+OK\r\n");
    assert_eq!(cli_tls(new_tls, &pki.ca, None, &["PING"]).unwrap(), "PONG");
    assert!(cli_tls(s.tls_port, &pki.ca, None, &["PING"]).is_err());
    // Plain and TLS ports moved by one CONFIG SET: both listen.
    let (p2, t2) = (free_port(), free_port());
    let mut c = s.h.raw();
    let r = c.cmd(&[
        b"CONFIG",
        b"SET",
        b"port",
        p2.to_string().as_bytes(),
        b"tls-port",
        t2.to_string().as_bytes(),
    ]);
    assert_eq!(r, b"+OK\r\n");
    assert_eq!(cli_tls(t2, &pki.ca, None, &["PING"]).unwrap(), "PONG");
    let mut moved = Raw::connect(std::net::SocketAddr::from(([127, 0, 0, 1], p2)));
    assert_eq!(moved.cmd(&[b"PING"]), b"+PONG\r\n");
    // A TLS port that cannot be bound: Redis's error, the old one kept.
    let r = moved.cmd(&[b"CONFIG", b"SET", b"tls-port", p2.to_string().as_bytes()]);
    assert_eq!(
        String::from_utf8_lossy(&r),
        "-ERR CONFIG SET failed (possibly related to argument 'tls-port') - Unable to listen on this port. Check server logs.\r\n"
    );
    assert_eq!(cli_tls(t2, &pki.ca, None, &["PING"]).unwrap(), "PONG");
}

/// Two handshakes with `openssl s_client` at `version` ("1_2" or
/// "1_3"), the second offering the first one's session: whether the
/// server resumed it. Input is held open briefly so that a TLSv1.3 ticket,
/// sent after the handshake, arrives before the client leaves.
fn session_resumed(port: u16, ca: &str, dir: &Path, version: &str) -> bool {
    let sess = dir.join(format!("session{version}.pem"));
    let _ = std::fs::remove_file(&sess);
    let connect = |arg: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "sleep 0.3 | openssl s_client -connect 127.0.0.1:{port} -CAfile {ca} -tls{version} {arg} {}",
                sess.display()
            ))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    connect("-sess_out");
    let shown = format!("Reused, TLSv{}", version.replace('_', "."));
    sess.exists() && connect("-sess_in").contains(&shown)
}

#[test]
fn tls_sessions_resume_as_in_redis_with_caching_on_and_off() {
    let pki = Pki::new("sess");
    let mut seen = Vec::new();
    for flavor in [Flavor::Redoubt, Flavor::Redis] {
        let s = start_tls(flavor, &pki, &[("tls-auth-clients", "no")]);
        let mut r = vec![
            session_resumed(s.tls_port, &pki.ca, &pki.dir, "1_2"),
            session_resumed(s.tls_port, &pki.ca, &pki.dir, "1_3"),
        ];
        assert_eq!(
            s.h.raw()
                .cmd_str(&["CONFIG", "SET", "tls-session-caching", "no"]),
            "+OK\r\n"
        );
        r.push(session_resumed(s.tls_port, &pki.ca, &pki.dir, "1_2"));
        r.push(session_resumed(s.tls_port, &pki.ca, &pki.dir, "1_3"));
        seen.push(r);
    }
    assert_eq!(
        seen[0], seen[1],
        "Redoubt, then Redis: TLS1.2/1.3 resumed with caching on, off"
    );
    assert!(seen[0][0] && seen[0][1], "{seen:?}");
}

#[test]
fn ca_certificates_from_tls_ca_cert_dir() {
    let pki = Pki::new("cadir");
    // OpenSSL finds CAs in a folder by subject-hash file names.
    let dir = pki.dir.join("cas");
    std::fs::create_dir_all(&dir).unwrap();
    let hash = Command::new("openssl")
        .args(["x509", "-hash", "-noout", "-in", &pki.ca])
        .output()
        .unwrap();
    let hash = String::from_utf8_lossy(&hash.stdout).trim().to_string();
    std::fs::copy(&pki.ca, dir.join(format!("{hash}.0"))).unwrap();
    let dir = dir.display().to_string();
    for flavor in [Flavor::Redoubt, Flavor::Redis] {
        let s = start_tls(
            flavor,
            &pki,
            &[("tls-ca-cert-file", ""), ("tls-ca-cert-dir", &dir)],
        );
        let port = s.tls_port;
        assert_eq!(
            cli_tls(port, &pki.ca, client_cert(&pki), &["PING"]).unwrap(),
            "PONG"
        );
        assert!(
            cli_tls(port, &pki.ca, None, &["PING"]).is_err(),
            "{flavor:?}"
        );
    }
}

/// Sentinel over TLS (`tls-replication yes` on the sentinel): it monitors
/// a master on its TLS port, discovers the replica, and fails over.
#[test]
fn sentinel_monitors_and_fails_over_over_tls() {
    let pki = Pki::new("sentinel");
    let master = start_tls(Flavor::Redoubt, &pki, &[]);
    let target = format!("127.0.0.1 {}", master.tls_port);
    let replica = start_tls(
        Flavor::Redoubt,
        &pki,
        &[("tls-replication", "yes"), ("replicaof", &target)],
    );
    wait_for("replica in sync over TLS", Duration::from_secs(20), || {
        replica
            .h
            .raw()
            .cmd_str(&["INFO", "replication"])
            .contains("master_link_status:up")
    });
    let conf = format!(
        "sentinel monitor mymaster 127.0.0.1 {} 1\nsentinel down-after-milliseconds mymaster 2000\n",
        master.tls_port
    );
    let stls = free_port().to_string();
    let sentinel = ServerHandle::start_sentinel(
        Flavor::Redoubt,
        &conf,
        &[
            ("tls-port", &stls),
            ("tls-cert-file", &pki.cert),
            ("tls-key-file", &pki.key),
            ("tls-ca-cert-file", &pki.ca),
            ("tls-replication", "yes"),
        ],
    );
    wait_for(
        "sentinel sees master and replica over TLS",
        Duration::from_secs(20),
        || {
            let m = sentinel.raw().cmd_str(&["SENTINEL", "MASTER", "mymaster"]);
            m.contains("$5\r\nflags\r\n$6\r\nmaster\r\n")
                && sentinel
                    .raw()
                    .cmd_str(&["SENTINEL", "REPLICAS", "mymaster"])
                    .contains("$18\r\nmaster-link-status\r\n$2\r\nok\r\n")
        },
    );
    assert_eq!(
        sentinel
            .raw()
            .cmd_str(&["SENTINEL", "FAILOVER", "mymaster"]),
        "+OK\r\n"
    );
    wait_for("replica promoted over TLS", Duration::from_secs(20), || {
        sentinel
            .raw()
            .cmd_str(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"])
            .contains(&replica.tls_port.to_string())
            && replica.h.raw().cmd_str(&["ROLE"]).contains("master")
    });
}
