//! TLS: the `tls-*` directives turned into a rustls server configuration
//! (for the `tls-port` listeners) and a client configuration (for outgoing
//! links: the replica link with `tls-replication yes`, Sentinel).
//!
//! A [`TlsContext`] is built from the whole configuration at start-up and
//! again on every `CONFIG SET` of a `tls-*` directive. Building reads every
//! file afresh, so a changed certificate is picked up; a failure leaves
//! the running context alone, and the caller answers as Redis does
//! ("Unable to update TLS configuration. Check server logs.") after the
//! reason was logged. Connections take the context current when they are
//! accepted (or opened), so existing ones keep their material.
//!
//! Where Redis's OpenSSL vocabulary has no rustls equivalent:
//! - `tls-protocols`: only TLSv1.2 and TLSv1.3 exist in rustls. `TLSv1` and
//!   `TLSv1.1` are skipped with a warning when a supported version remains,
//!   refused when none does.
//! - `tls-ciphers` (TLSv1.2) takes OpenSSL cipher names; the six ECDHE
//!   AEAD suites rustls implements are known by their OpenSSL names, the
//!   keywords `DEFAULT`, `HIGH` and `ALL` select all of them, exclusions
//!   (`!aNULL`, `-RC4`) and `@STRENGTH`-style directives are accepted and
//!   change nothing rustls would offer. Any other name is refused.
//! - `tls-ciphersuites` (TLSv1.3) takes the IANA names OpenSSL uses
//!   (`TLS_AES_128_GCM_SHA256`, ...); the CCM suites do not exist in rustls.
//! - `tls-key-file-pass`: PKCS#8 keys encrypted with PBES2 (what `openssl
//!   pkcs8 -topk8 -v2 aes-256-cbc` and OpenSSL 3's `genpkey -aes256`
//!   write) are decrypted; legacy PEM encryption (`Proc-Type: 4,ENCRYPTED`
//!   headers, from `openssl genrsa -aes256` with OpenSSL 1.x) is refused
//!   with a message saying how to convert the key.
//! - `tls-dh-params-file` is accepted and unused: rustls only offers
//!   (EC)DHE groups of its own, never finite-field parameters from a file.
//! - `tls-session-caching no` switches off the server-side session cache
//!   only; session tickets stay on, as with Redis's OpenSSL set-up.
//! - Certificates must be X.509 v3 (webpki refuses v1 certificates).
//! - Like Redis, an outgoing link checks the peer's chain against the
//!   configured CAs but not the host name it dialled.

use crate::config::Config;
use crate::config::Directive;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{StoresServerSessions, WebPkiClientVerifier};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig,
    SignatureScheme, SupportedCipherSuite, SupportedProtocolVersion,
};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The material for TLS connections in both directions.
pub struct TlsContext {
    /// Wraps accepted `tls-port` connections.
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// Wraps outgoing links; presents `tls-client-cert-file` (or
    /// `tls-cert-file`) and checks the peer against the configured CAs.
    pub connector: tokio_rustls::TlsConnector,
    /// Wraps connections accepted on the cluster bus with `tls-cluster
    /// yes`: the peer must present a certificate our CAs signed whatever
    /// `tls-auth-clients` says, as Redis accepts bus links with
    /// `TLS_CLIENT_AUTH_YES`. None without `tls-cluster`.
    pub bus_acceptor: Option<tokio_rustls::TlsAcceptor>,
}

/// Whether the configuration asks for TLS at all (Redis configures it when
/// any of these is set, and only then).
pub fn wanted(config: &Config) -> bool {
    config.get_int(Directive::TlsPort) != 0
        || config.get_bool(Directive::TlsReplication)
        || config.get_bool(Directive::TlsCluster)
}

/// Builds the context from `config`. The error is the line to log (Redis's
/// wording where it has one).
pub fn configure(config: &Config) -> Result<Arc<TlsContext>, String> {
    let path = |d: Directive| config.get_str(d);
    let cert_file = path(Directive::TlsCertFile);
    if cert_file.is_empty() {
        return Err("No tls-cert-file configured!".into());
    }
    let key_file = path(Directive::TlsKeyFile);
    if key_file.is_empty() {
        return Err("No tls-key-file configured!".into());
    }
    let (ca_file, ca_dir) = (
        path(Directive::TlsCaCertFile),
        path(Directive::TlsCaCertDir),
    );
    let auth = config.get_str(Directive::TlsAuthClients);
    let needs_ca = auth != "no"
        || config.get_bool(Directive::TlsReplication)
        || config.get_bool(Directive::TlsCluster);
    if needs_ca && ca_file.is_empty() && ca_dir.is_empty() {
        return Err("Either tls-ca-cert-file or tls-ca-cert-dir must be specified when tls-cluster, tls-replication or tls-auth-clients are enabled!".into());
    }

    let versions = protocols(&config.get_str(Directive::TlsProtocols))?;
    let mut suites = ciphersuites_tls13(&config.get_str(Directive::TlsCiphersuites))?;
    suites.extend(ciphers_tls12(&config.get_str(Directive::TlsCiphers))?);
    let provider = Arc::new(CryptoProvider {
        cipher_suites: suites,
        ..ring::default_provider()
    });

    let certs = load_certs(&cert_file)?;
    let key = load_key(&key_file, &config.get_str(Directive::TlsKeyFilePass))?;
    let roots = Arc::new(load_roots(&ca_file, &ca_dir)?);

    // Server side.
    let client_verifier = match auth.as_str() {
        "no" => WebPkiClientVerifier::no_client_auth(),
        mode => {
            let b = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone());
            let b = if mode == "optional" {
                b.allow_unauthenticated()
            } else {
                b
            };
            b.build()
                .map_err(|e| format!("Failed to configure CA certificate(s) file/directory: {e}"))?
        }
    };
    let server_config = |verifier: Arc<dyn rustls::server::danger::ClientCertVerifier>| {
        let mut server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| format!("Failed to configure TLS protocols: {e}"))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs.clone(), key.clone_key())
            .map_err(|e| format!("Failed to load private key: {key_file}: {e}"))?;
        server.ignore_client_order = config.get_bool(Directive::TlsPreferServerCiphers);
        server.session_storage = if config.get_bool(Directive::TlsSessionCaching) {
            Arc::new(SessionCache::new(
                config.get_int(Directive::TlsSessionCacheSize).max(0) as usize,
                Duration::from_secs(config.get_int(Directive::TlsSessionCacheTimeout).max(0) as u64),
            ))
        } else {
            Arc::new(rustls::server::NoServerSessionStorage {})
        };
        // Redis leaves OpenSSL's session tickets on whatever
        // `tls-session-caching` says (that directive only switches the
        // server-side cache), so clients resume through tickets either way.
        server.ticketer = ring::Ticketer::new()
            .map_err(|e| format!("Failed to set up TLS session tickets: {e}"))?;
        Ok::<_, String>(server)
    };
    let server = server_config(client_verifier)?;
    let bus_acceptor = if config.get_bool(Directive::TlsCluster) {
        let required = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| format!("Failed to configure CA certificate(s) file/directory: {e}"))?;
        let bus = server_config(required)?;
        Some(tokio_rustls::TlsAcceptor::from(Arc::new(bus)))
    } else {
        None
    };

    // Client side: the client certificate falls back to the server's, as
    // in Redis.
    let (client_certs, client_key) = match (
        path(Directive::TlsClientCertFile).as_str(),
        path(Directive::TlsClientKeyFile).as_str(),
    ) {
        ("", _) | (_, "") => (certs, key),
        (c, k) => (
            load_certs(c)?,
            load_key(k, &config.get_str(Directive::TlsClientKeyFilePass))?,
        ),
    };
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| format!("Failed to configure CA certificate(s) file/directory: {e}"))?;
    let client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| format!("Failed to configure TLS protocols: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ChainOnly(verifier)))
        .with_client_auth_cert(client_certs, client_key)
        .map_err(|e| format!("Failed to load private key: {e}"))?;

    Ok(Arc::new(TlsContext {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
        connector: tokio_rustls::TlsConnector::from(Arc::new(client)),
        bus_acceptor,
    }))
}

/// `tls-protocols`: space-separated version names; empty means both.
fn protocols(spec: &str) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    let mut out = Vec::new();
    for word in spec.split_ascii_whitespace() {
        match word.to_ascii_lowercase().as_str() {
            "tlsv1.2" => out.push(&rustls::version::TLS12),
            "tlsv1.3" => out.push(&rustls::version::TLS13),
            "tlsv1" | "tlsv1.1" => crate::log_warning!(
                "tls-protocols: {word} is not supported (only TLSv1.2 and TLSv1.3 are); skipped."
            ),
            _ => return Err("Invalid tls-protocols specified. Use a combination of 'TLSv1', 'TLSv1.1', 'TLSv1.2' and 'TLSv1.3'.".into()),
        }
    }
    if spec.trim().is_empty() {
        return Ok(vec![&rustls::version::TLS13, &rustls::version::TLS12]);
    }
    if out.is_empty() {
        return Err(format!(
            "Invalid tls-protocols specified: '{spec}' names no supported version (TLSv1.2, TLSv1.3)."
        ));
    }
    out.dedup_by_key(|v| v.version);
    Ok(out)
}

/// The TLSv1.3 suites rustls offers, by the names OpenSSL uses.
const TLS13_NAMES: [(&str, SupportedCipherSuite); 3] = [
    (
        "TLS_AES_256_GCM_SHA384",
        ring::cipher_suite::TLS13_AES_256_GCM_SHA384,
    ),
    (
        "TLS_AES_128_GCM_SHA256",
        ring::cipher_suite::TLS13_AES_128_GCM_SHA256,
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
];

/// The TLSv1.2 suites rustls offers, by their OpenSSL cipher names.
const TLS12_NAMES: [(&str, SupportedCipherSuite); 6] = [
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        ring::cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        ring::cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        ring::cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

fn names(table: &[(&str, SupportedCipherSuite)]) -> String {
    table.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(":")
}

/// The suite `table` knows as `name` (case-insensitive).
fn find_suite(table: &[(&str, SupportedCipherSuite)], name: &str) -> Option<SupportedCipherSuite> {
    table
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, s)| *s)
}

fn push_once(out: &mut Vec<SupportedCipherSuite>, s: SupportedCipherSuite) {
    if !out.iter().any(|o| o.suite() == s.suite()) {
        out.push(s);
    }
}

/// `tls-ciphersuites`: a colon-separated list, in preference order.
fn ciphersuites_tls13(spec: &str) -> Result<Vec<SupportedCipherSuite>, String> {
    if spec.trim().is_empty() {
        return Ok(TLS13_NAMES.iter().map(|(_, s)| *s).collect());
    }
    let mut out = Vec::new();
    for word in spec.split(':').map(str::trim).filter(|w| !w.is_empty()) {
        let Some(s) = find_suite(&TLS13_NAMES, word) else {
            return Err(format!(
                "Failed to configure ciphersuites: {spec} ('{word}' is not available; supported: {})",
                names(&TLS13_NAMES)
            ));
        };
        push_once(&mut out, s);
    }
    Ok(out)
}

/// `tls-ciphers`: an OpenSSL cipher list, in preference order.
fn ciphers_tls12(spec: &str) -> Result<Vec<SupportedCipherSuite>, String> {
    let all = || TLS12_NAMES.iter().map(|(_, s)| *s);
    if spec.trim().is_empty() {
        return Ok(all().collect());
    }
    let mut out = Vec::new();
    let mut removed = Vec::new();
    for word in spec
        .split([':', ',', ' '])
        .map(str::trim)
        .filter(|w| !w.is_empty())
    {
        if let Some(name) = word.strip_prefix(['!', '-']) {
            // Exclusions of suites rustls never offers change nothing.
            if let Some(s) = find_suite(&TLS12_NAMES, name) {
                removed.push(s.suite());
            }
            continue;
        }
        if word.starts_with(['@', '+']) {
            continue;
        }
        if ["DEFAULT", "HIGH", "ALL"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(word))
        {
            all().for_each(|s| push_once(&mut out, s));
            continue;
        }
        let Some(s) = find_suite(&TLS12_NAMES, word) else {
            return Err(format!(
                "Failed to configure ciphers: {spec} ('{word}' is not available; supported: {})",
                names(&TLS12_NAMES)
            ));
        };
        push_once(&mut out, s);
    }
    out.retain(|s| !removed.contains(&s.suite()));
    if out.is_empty() {
        return Err(format!(
            "Failed to configure ciphers: {spec} (no cipher left)"
        ));
    }
    Ok(out)
}

fn read_file(what: &str, path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| {
        format!(
            "Failed to load {what}: {path}: {}",
            crate::config::strerror(&e)
        )
    })
}

/// Every certificate in a PEM file (a chain: leaf first).
fn load_certs(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read_file("certificate", path)?;
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut pem.as_slice()).collect();
    match certs {
        Ok(c) if !c.is_empty() => Ok(c),
        Ok(_) => Err(format!(
            "Failed to load certificate: {path}: no PEM certificate in the file"
        )),
        Err(e) => Err(format!("Failed to load certificate: {path}: {e}")),
    }
}

/// The private key in a PEM file, decrypted with `pass` when it is an
/// encrypted PKCS#8 key.
fn load_key(path: &str, pass: &str) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read_file("private key", path)?;
    let fail = |why: &str| format!("Failed to load private key: {path}: {why}");
    if let Some(block) = pem_block(&pem, "ENCRYPTED PRIVATE KEY") {
        if pass.is_empty() {
            return Err(fail(
                "the key is encrypted and no password is configured (tls-key-file-pass)",
            ));
        }
        let (_, der) = pkcs8::der::pem::decode_vec(block).map_err(|e| fail(&e.to_string()))?;
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
            .map_err(|e| fail(&e.to_string()))?;
        let doc = info
            .decrypt(pass.as_bytes())
            .map_err(|_| fail("bad decrypt (wrong tls-key-file-pass?)"))?;
        return Ok(PrivateKeyDer::Pkcs8(doc.as_bytes().to_vec().into()));
    }
    if pem.windows(22).any(|w| w == b"Proc-Type: 4,ENCRYPTED") {
        return Err(fail("legacy PEM encryption is not supported; convert the key with `openssl pkcs8 -topk8 -v2 aes-256-cbc`"));
    }
    match rustls_pemfile::private_key(&mut pem.as_slice()) {
        Ok(Some(k)) => Ok(k),
        Ok(None) => Err(fail("no PEM private key in the file")),
        Err(e) => Err(fail(&e.to_string())),
    }
}

/// The first PEM block with `label`, markers included.
fn pem_block<'a>(pem: &'a [u8], label: &str) -> Option<&'a [u8]> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = find(pem, begin.as_bytes())?;
    let stop = start + find(&pem[start..], end.as_bytes())? + end.len();
    Some(&pem[start..stop])
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The trusted CAs: every certificate of `tls-ca-cert-file`, and of every
/// PEM file in `tls-ca-cert-dir` (OpenSSL reads that folder through hash
/// links made by `c_rehash`; reading every file finds the same CAs).
fn load_roots(file: &str, dir: &str) -> Result<RootCertStore, String> {
    let fail = |why: String| format!("Failed to configure CA certificate(s) file/directory: {why}");
    let mut roots = RootCertStore::empty();
    if !file.is_empty() {
        let pem = std::fs::read(file)
            .map_err(|e| fail(format!("{file}: {}", crate::config::strerror(&e))))?;
        for c in rustls_pemfile::certs(&mut pem.as_slice()) {
            let c = c.map_err(|e| fail(format!("{file}: {e}")))?;
            roots.add(c).map_err(|e| fail(format!("{file}: {e}")))?;
        }
        if roots.is_empty() {
            return Err(fail(format!("{file}: no PEM certificate in the file")));
        }
    }
    if !dir.is_empty() {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| fail(format!("{dir}: {}", crate::config::strerror(&e))))?;
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths.into_iter().filter(|p| p.is_file()) {
            let Ok(pem) = std::fs::read(&p) else { continue };
            // Other files may sit in the folder; only certificates count.
            for c in rustls_pemfile::certs(&mut pem.as_slice()).flatten() {
                let _ = roots.add(c);
            }
        }
    }
    Ok(roots)
}

/// Checks the peer's chain against our CAs but accepts any host name, as
/// Redis's outgoing links do (a replica dials an IP its operator chose).
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The server's session cache: `tls-session-cache-size` entries at most
/// (oldest out first), each valid `tls-session-cache-timeout` seconds, as
/// OpenSSL's cache that Redis configures.
#[derive(Debug)]
struct SessionCache {
    inner: Mutex<Sessions>,
    max: usize,
    ttl: Duration,
}

#[derive(Debug, Default)]
struct Sessions {
    map: HashMap<Vec<u8>, (Vec<u8>, Instant)>,
    order: VecDeque<Vec<u8>>,
}

impl SessionCache {
    fn new(max: usize, ttl: Duration) -> SessionCache {
        SessionCache {
            inner: Mutex::new(Sessions::default()),
            max,
            ttl,
        }
    }
}

impl StoresServerSessions for SessionCache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        // OpenSSL treats a cache size of 0 as unlimited.
        let Ok(mut s) = self.inner.lock() else {
            return false;
        };
        while self.max > 0 && s.map.len() >= self.max {
            let Some(old) = s.order.pop_front() else {
                break;
            };
            s.map.remove(&old);
        }
        if s.map.insert(key.clone(), (value, Instant::now())).is_none() {
            s.order.push_back(key);
        }
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let s = self.inner.lock().ok()?;
        let (v, at) = s.map.get(key)?;
        (at.elapsed() <= self.ttl).then(|| v.clone())
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        let mut s = self.inner.lock().ok()?;
        let (v, at) = s.map.remove(key)?;
        s.order.retain(|k| k != key);
        (at.elapsed() <= self.ttl).then_some(v)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_words() {
        assert_eq!(protocols("").unwrap().len(), 2);
        assert_eq!(protocols("TLSv1.2").unwrap().len(), 1);
        assert_eq!(protocols("TLSv1.1 TLSv1.3").unwrap().len(), 1);
        assert!(protocols("TLSv1.1").is_err());
        assert!(protocols("TLSv1.5")
            .unwrap_err()
            .starts_with("Invalid tls-protocols specified."));
    }

    #[test]
    fn cipher_lists_map_openssl_names() {
        assert_eq!(ciphers_tls12("").unwrap().len(), 6);
        assert_eq!(ciphers_tls12("DEFAULT:!aNULL:!MD5").unwrap().len(), 6);
        let one = ciphers_tls12("ECDHE-RSA-AES128-GCM-SHA256").unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(
            ciphers_tls12("HIGH:!ECDHE-RSA-AES128-GCM-SHA256")
                .unwrap()
                .len(),
            5
        );
        assert!(ciphers_tls12("FOO")
            .unwrap_err()
            .contains("'FOO' is not available"));
        assert!(ciphers_tls12("AES128-SHA").is_err());
        assert_eq!(
            ciphersuites_tls13("TLS_AES_128_GCM_SHA256").unwrap().len(),
            1
        );
        assert!(ciphersuites_tls13("TLS_AES_128_CCM_SHA256").is_err());
    }

    #[test]
    fn session_cache_is_bounded_and_expires() {
        let c = SessionCache::new(2, Duration::from_secs(60));
        for k in [b"a", b"b", b"c"] {
            c.put(k.to_vec(), k.to_vec());
        }
        assert_eq!(c.get(b"a"), None);
        assert_eq!(c.get(b"c"), Some(b"c".to_vec()));
        let short = SessionCache::new(0, Duration::ZERO);
        short.put(b"k".to_vec(), b"v".to_vec());
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(short.get(b"k"), None);
    }

    #[test]
    fn missing_material_is_reported_as_redis_does() {
        let mut c = Config::new();
        c.set("tls-port", &["6380".into()]).unwrap();
        assert_eq!(configure(&c).err().unwrap(), "No tls-cert-file configured!");
        c.set("tls-cert-file", &["/nonexistent.crt".into()])
            .unwrap();
        c.set("tls-key-file", &["/nonexistent.key".into()]).unwrap();
        assert!(configure(&c)
            .err()
            .unwrap()
            .starts_with("Either tls-ca-cert-file"));
        c.set("tls-ca-cert-file", &["/nonexistent.ca".into()])
            .unwrap();
        assert_eq!(
            configure(&c).err().unwrap(),
            "Failed to load certificate: /nonexistent.crt: No such file or directory"
        );
    }
}
